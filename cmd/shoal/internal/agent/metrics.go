package agent

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	gometrics "github.com/hashicorp/go-metrics"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// newRegistry builds the agent's own metrics registry (there is no
// global one) and the sink that carries memberlist's go-metrics into it,
// so gossip counters are counted once, by memberlist, and exported here.
//
// The Go runtime and process collectors build nothing before the first
// scrape: an agent spends nothing on them between its start and its join,
// when ten agents starting at once on a small machine compete for the
// CPU, for metrics that only a scrape reads.
func newRegistry() (*metrics.Registry, *gossipMetrics) {
	reg := metrics.NewRegistry()
	sink := metrics.NewSink()
	reg.Register(
		metrics.NewGoCollector(),
		metrics.NewProcessCollector(),
		metrics.NewGaugeFunc("shoal_build_info", "Always 1; the version label names the build.",
			func() float64 { return 1 }, metrics.Label{Name: "version", Value: buildinfo.Version}),
		sink,
	)
	return reg, &gossipMetrics{id: strconv.FormatUint(agentSeq.Add(1), 10), sink: sink}
}

// memberlist v0.7 reports only to go-metrics' process-wide instance, with
// the labels its config names. So each agent's node labels its metrics
// with the agent's id (routeLabel), and one process-wide router, set the
// first time an agent runs, hands each metric to its agent's sink without
// that label. Two agents in one process never mix counters, and none
// replaces the other's sink.
const routeLabel = "shoal_agent"

var (
	agentSeq    atomic.Uint64 // agent ids, unique in the process
	routes      sync.Map      // agent id -> gometrics.MetricSink
	routerSetUp sync.Once
)

// gossipMetrics is one agent's share of the router.
type gossipMetrics struct {
	id   string
	sink gometrics.MetricSink
}

// labels are the node's metric labels that route to this agent.
func (g *gossipMetrics) labels() map[string]string { return map[string]string{routeLabel: g.id} }

// start routes the agent's metrics to its sink until the returned func.
func (g *gossipMetrics) start() func() {
	routerSetUp.Do(func() {
		mc := gometrics.DefaultConfig("shoal")
		mc.EnableHostname = false
		mc.EnableRuntimeMetrics = false // the Go collector covers the runtime
		// NewGlobal fails only with a sink it cannot build; ours is built.
		_, _ = gometrics.NewGlobal(mc, router{})
	})
	routes.Store(g.id, g.sink)
	return func() { routes.Delete(g.id) }
}

// router is the process-wide go-metrics sink: it passes each labelled
// metric to the sink of the agent its routeLabel names, and drops
// unlabelled ones (no agent of ours emitted them).
type router struct{}

var _ gometrics.MetricSink = router{}

func (router) route(labels []gometrics.Label) (gometrics.MetricSink, []gometrics.Label) {
	for i, l := range labels {
		if l.Name != routeLabel {
			continue
		}
		s, ok := routes.Load(l.Value)
		if !ok {
			return nil, nil
		}
		rest := append(slices.Clone(labels[:i]), labels[i+1:]...)
		return s.(gometrics.MetricSink), rest
	}
	return nil, nil
}

func (router) SetGauge([]string, float32)    {}
func (router) EmitKey([]string, float32)     {}
func (router) IncrCounter([]string, float32) {}
func (router) AddSample([]string, float32)   {}

func (r router) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s, rest := r.route(labels); s != nil {
		s.SetGaugeWithLabels(key, val, rest)
	}
}

func (r router) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s, rest := r.route(labels); s != nil {
		s.IncrCounterWithLabels(key, val, rest)
	}
}

func (r router) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s, rest := r.route(labels); s != nil {
		s.AddSampleWithLabels(key, val, rest)
	}
}

// nodeCollector reads node.Stats at scrape time.
type nodeCollector struct {
	stats   func() node.Stats
	members *metrics.Desc
	health  *metrics.Desc
	dropped *metrics.Desc
	lamport *metrics.Desc
	catalog *metrics.Desc
}

func newNodeCollector(stats func() node.Stats) *nodeCollector {
	return &nodeCollector{
		stats:   stats,
		members: metrics.NewDesc("shoal_members", "Members known to this node, by status.", metrics.GaugeKind, "status"),
		health:  metrics.NewDesc("shoal_health_score", "memberlist's health (awareness) score; 0 is healthy.", metrics.GaugeKind),
		dropped: metrics.NewDesc("shoal_dropped_total", "Messages and events the node dropped.", metrics.CounterKind, "kind"),
		lamport: metrics.NewDesc("shoal_lamport_time", "Lamport clocks.", metrics.GaugeKind, "clock"),
		catalog: metrics.NewDesc("shoal_catalog_messages_total",
			"Service catalog records: broadcast (this node's own, coalesced to one per catalog interval), received (newer records of others), fetched (asked of owners), rejected.",
			metrics.CounterKind, "kind"),
	}
}

func (c *nodeCollector) Collect(sc *metrics.Scrape) {
	s := c.stats()
	for status, n := range map[string]int{"alive": s.Alive, "suspect": s.Suspect, "leaving": s.Leaving, "failed": s.Failed, "left": s.Left} {
		sc.Add(c.members, float64(n), status)
	}
	sc.Add(c.health, float64(s.Health))
	sc.Add(c.dropped, float64(s.DroppedMessages), "messages")
	sc.Add(c.dropped, float64(s.DroppedEvents), "events")
	// Members whose name, address or tags broke the local rules (forged or
	// broken peers): never added to the view.
	sc.Add(c.dropped, float64(s.RejectedMembers), "rejected_members")
	sc.Add(c.dropped, float64(s.NameConflicts), "name_conflicts")
	sc.Add(c.dropped, float64(s.DroppedBroadcasts), "broadcasts")
	for clock, t := range map[string]node.LamportTime{"member": s.LamportTime, "event": s.EventTime, "query": s.QueryTime} {
		sc.Add(c.lamport, float64(t), clock)
	}
	for kind, n := range map[string]uint64{"broadcast": s.CatalogBroadcasts, "received": s.CatalogReceived, "fetched": s.CatalogFetches, "rejected": s.CatalogRejected} {
		sc.Add(c.catalog, float64(n), kind)
	}
}

// renderCollector exports each template's render counters at scrape time,
// from the renderer's status (counters carried over SIGHUP reloads), and
// the runtime counters of the HAProxy a template drives.
type renderCollector struct {
	status   func() []templateTotals
	counters []*metrics.Desc // renders, installs, failures, reloads, applied
	ok       *metrics.Desc
	last     *metrics.Desc
	backends *metrics.Desc
	excluded *metrics.Desc
	pending  *metrics.Desc
	runtime  runtimeDescs
}

func newRenderCollector(status func() []templateTotals) *renderCollector {
	const lbl = "template"
	return &renderCollector{
		status:  status,
		runtime: newRuntimeDescs(),
		counters: []*metrics.Desc{
			metrics.NewDesc("shoal_render_renders_total", "Render attempts.", metrics.CounterKind, lbl),
			metrics.NewDesc("shoal_render_installs_total", "Renders that changed the destination file.", metrics.CounterKind, lbl),
			metrics.NewDesc("shoal_render_failures_total", "Failed renders: template, floor guard, validation, write or reload.", metrics.CounterKind, lbl),
			metrics.NewDesc("shoal_render_reloads_total", "Successful load-balancer reloads for the template.", metrics.CounterKind, lbl),
			metrics.NewDesc("shoal_render_applied_total", "Installs the load balancer took without a reload (HAProxy's Runtime API).", metrics.CounterKind, lbl),
		},
		ok:       metrics.NewDesc("shoal_render_ok", "1 if the template's last render succeeded.", metrics.GaugeKind, lbl),
		last:     metrics.NewDesc("shoal_render_last_timestamp_seconds", "When the last render attempt finished.", metrics.GaugeKind, lbl),
		backends: metrics.NewDesc("shoal_render_backends", "Backends in the installed file.", metrics.GaugeKind, lbl),
		excluded: metrics.NewDesc("shoal_render_excluded_members", "Members left out of rendering for unsafe values.", metrics.GaugeKind, lbl),
		pending: metrics.NewDesc("shoal_render_reload_pending",
			"1 while the installed file is not live: its reload failed and is being retried.", metrics.GaugeKind, lbl),
	}
}

func (c *renderCollector) Collect(sc *metrics.Scrape) {
	for _, s := range c.status() {
		for i, v := range []uint64{s.Renders, s.Installs, s.Failures, s.Reloads, s.Applied} {
			sc.Add(c.counters[i], float64(v), s.Name)
		}
		ok := 0.0
		if s.OK && s.TemplateError == "" {
			ok = 1
		}
		sc.Add(c.ok, ok, s.Name)
		if !s.LastRender.IsZero() {
			sc.Add(c.last, float64(s.LastRender.UnixNano())/1e9, s.Name)
		}
		sc.Add(c.backends, float64(s.Backends), s.Name)
		sc.Add(c.excluded, float64(len(s.Excluded)), s.Name)
		pending := 0.0
		if s.ReloadPending {
			pending = 1
		}
		sc.Add(c.pending, pending, s.Name)
		c.runtime.collect(sc, s)
	}
}
