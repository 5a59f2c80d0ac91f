package agent

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/render"
)

// templateTotals is one template's status with the counters of replaced
// runners added, and the runtime counters of the HAProxy it drives.
type templateTotals struct {
	render.TemplateStatus
	// Runtime is what the template's HAProxy did through its Runtime API;
	// nil for other backends.
	Runtime *backends.RuntimeStats
	// sharedRuntime: an earlier template drives the same HAProxy, so its
	// Runtime counters are already exported under that template's name.
	sharedRuntime bool
}

// runtimeReporter is a backend that counts its runtime path:
// *backends.HAProxy.
type runtimeReporter interface {
	RuntimeStats() backends.RuntimeStats
}

var _ runtimeReporter = (*backends.HAProxy)(nil)

// carryRuntime keeps the runtime counters of the backends in old that next
// does not reuse, so each template's counters keep growing when a reload
// replaces its HAProxy backend (a changed option). The caller holds r.mu.
func (r *renderer) carryRuntime(old, next lbSet) {
	kept := map[backends.Backend]bool{}
	for _, b := range next.byName {
		kept[b] = true
	}
	for name, b := range old.byName {
		rs, ok := b.(runtimeReporter)
		if !ok || kept[b] {
			continue
		}
		c := r.carriedRT[name]
		addRuntime(&c, rs.RuntimeStats())
		r.carriedRT[name] = c
	}
}

// addRuntime adds the counters of c to s. Draining and Ghosts are current
// values, not counters: s keeps its own. s keeps its last fallback and
// drift, or takes c's when it has none.
func addRuntime(s *backends.RuntimeStats, c backends.RuntimeStats) {
	s.Applies += c.Applies
	s.Commands += c.Commands
	s.ServersAdded += c.ServersAdded
	s.ServersRemoved += c.ServersRemoved
	s.Reloads += c.Reloads
	s.Fallbacks += c.Fallbacks
	s.Reconciles += c.Reconciles
	s.DriftRepairs += c.DriftRepairs
	if len(c.FallbackReasons) > 0 {
		s.FallbackReasons = maps.Clone(s.FallbackReasons)
		if s.FallbackReasons == nil {
			s.FallbackReasons = map[string]uint64{}
		}
		for reason, n := range c.FallbackReasons {
			s.FallbackReasons[reason] += n
		}
	}
	if s.LastFallback == "" {
		s.LastFallback = c.LastFallback
	}
	if s.LastDrift == "" {
		s.LastDrift = c.LastDrift
	}
}

// runtimeAPI converts runtime counters for the API; nil stays nil.
func runtimeAPI(s *backends.RuntimeStats) *api.RuntimeStatus {
	if s == nil {
		return nil
	}
	return &api.RuntimeStatus{
		Applies: s.Applies, Commands: s.Commands,
		ServersAdded: s.ServersAdded, ServersRemoved: s.ServersRemoved,
		Reloads: s.Reloads, Fallbacks: s.Fallbacks, FallbackReasons: maps.Clone(s.FallbackReasons),
		LastFallback: s.LastFallback, Reconciles: s.Reconciles,
		DriftRepairs: s.DriftRepairs, LastDrift: s.LastDrift,
		Draining: s.Draining, Ghosts: s.Ghosts,
	}
}

// fallbackReasons are the reasons HAProxy's runtime path falls back to a
// reload; each is exported from the start, at 0, so that rate() sees the
// first one.
var fallbackReasons = []string{
	backends.FallbackDisabled, backends.FallbackParse, backends.FallbackStructure,
	backends.FallbackOptions, backends.FallbackNotAddable, backends.FallbackUnavailable,
	backends.FallbackDrift, backends.FallbackRefused, backends.FallbackVerify,
	backends.FallbackGhosts, backends.FallbackDrainFailed,
}

// runtimeDescs are the metrics of HAProxy's runtime path, per template (the
// first template, by name, of an HAProxy that several templates drive).
type runtimeDescs struct {
	counters  []*metrics.Desc // in the order of runtimeCounters
	fallbacks *metrics.Desc
	draining  *metrics.Desc
	ghosts    *metrics.Desc
}

func newRuntimeDescs() runtimeDescs {
	lbl := []string{"template"}
	return runtimeDescs{
		counters: []*metrics.Desc{
			metrics.NewDesc("shoal_haproxy_runtime_applies_total", "Changes HAProxy took through its Runtime API, without a reload.", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_runtime_commands_total", "Runtime API commands sent to HAProxy (state reads aside).", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_runtime_servers_added_total", "Servers added through the Runtime API (add server).", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_runtime_servers_removed_total", "Servers deleted through the Runtime API (del server).", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_reloads_total", "Successful HAProxy reloads, for any reason (changes, drift repairs).", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_runtime_reconciles_total", "Comparisons of HAProxy's running servers with the installed file outside a change.", metrics.CounterKind, lbl...),
			metrics.NewDesc("shoal_haproxy_runtime_drift_repairs_total", "Reloads because HAProxy's running servers differed from the installed file.", metrics.CounterKind, lbl...),
		},
		fallbacks: metrics.NewDesc("shoal_haproxy_runtime_fallbacks_total", "Changes that needed a reload instead of the Runtime API, by reason.", metrics.CounterKind, "template", "reason"),
		draining:  metrics.NewDesc("shoal_haproxy_draining_servers", "Servers removed from the file that still drain their sessions.", metrics.GaugeKind, lbl...),
		ghosts:    metrics.NewDesc("shoal_haproxy_ghost_servers", "Removed servers kept in maintenance because HAProxy refused to delete them yet.", metrics.GaugeKind, lbl...),
	}
}

func runtimeCounters(s *backends.RuntimeStats) []uint64 {
	return []uint64{s.Applies, s.Commands, s.ServersAdded, s.ServersRemoved, s.Reloads, s.Reconciles, s.DriftRepairs}
}

func (d runtimeDescs) collect(sc *metrics.Scrape, t templateTotals) {
	s := t.Runtime
	if s == nil || t.sharedRuntime {
		return
	}
	for i, v := range runtimeCounters(s) {
		sc.Add(d.counters[i], float64(v), t.Name)
	}
	reasons := slices.Clone(fallbackReasons)
	for reason := range s.FallbackReasons {
		if !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
	}
	for _, reason := range reasons {
		sc.Add(d.fallbacks, float64(s.FallbackReasons[reason]), t.Name, reason)
	}
	sc.Add(d.draining, float64(s.Draining), t.Name)
	sc.Add(d.ghosts, float64(s.Ghosts), t.Name)
}
