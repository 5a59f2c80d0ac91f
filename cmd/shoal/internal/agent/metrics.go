package agent

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/node"
)

// newRegistry builds the agent's own Prometheus registry (never the global
// default) and the bridge that carries memberlist's go-metrics into it, so
// gossip counters are counted once, by memberlist, and exported here.
func newRegistry() (*prometheus.Registry, *gossipMetrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		&lazyCollector{make: func() []prometheus.Collector {
			return []prometheus.Collector{
				collectors.NewGoCollector(),
				collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			}
		}},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "shoal_build_info",
			Help:        "Always 1; the version label names the build.",
			ConstLabels: prometheus.Labels{"version": buildinfo.Version},
		}, func() float64 { return 1 }),
	)
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: reg, Name: "shoal_gossip"})
	if err != nil {
		return nil, nil, fmt.Errorf("metrics bridge: %w", err)
	}
	return reg, &gossipMetrics{id: strconv.FormatUint(agentSeq.Add(1), 10), sink: sink}, nil
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
	members *prometheus.Desc
	health  *prometheus.Desc
	dropped *prometheus.Desc
	lamport *prometheus.Desc
	catalog *prometheus.Desc
}

func newNodeCollector(stats func() node.Stats) *nodeCollector {
	return &nodeCollector{
		stats:   stats,
		members: prometheus.NewDesc("shoal_members", "Members known to this node, by status.", []string{"status"}, nil),
		health:  prometheus.NewDesc("shoal_health_score", "memberlist's health (awareness) score; 0 is healthy.", nil, nil),
		dropped: prometheus.NewDesc("shoal_dropped_total", "Messages and events the node dropped.", []string{"kind"}, nil),
		lamport: prometheus.NewDesc("shoal_lamport_time", "Lamport clocks.", []string{"clock"}, nil),
		catalog: prometheus.NewDesc("shoal_catalog_messages_total",
			"Service catalog records: broadcast (this node's own, coalesced to one per catalog interval), received (newer records of others), fetched (asked of owners), rejected.",
			[]string{"kind"}, nil),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.health
	ch <- c.dropped
	ch <- c.lamport
	ch <- c.catalog
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for status, n := range map[string]int{"alive": s.Alive, "suspect": s.Suspect, "leaving": s.Leaving, "failed": s.Failed, "left": s.Left} {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, float64(s.Health))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.DroppedMessages), "messages")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.DroppedEvents), "events")
	// Members whose name, address or tags broke the local rules (forged or
	// broken peers): never added to the view.
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.RejectedMembers), "rejected_members")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.NameConflicts), "name_conflicts")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.DroppedBroadcasts), "broadcasts")
	for clock, t := range map[string]node.LamportTime{"member": s.LamportTime, "event": s.EventTime, "query": s.QueryTime} {
		ch <- prometheus.MustNewConstMetric(c.lamport, prometheus.GaugeValue, float64(t), clock)
	}
	for kind, n := range map[string]uint64{"broadcast": s.CatalogBroadcasts, "received": s.CatalogReceived, "fetched": s.CatalogFetches, "rejected": s.CatalogRejected} {
		ch <- prometheus.MustNewConstMetric(c.catalog, prometheus.CounterValue, float64(n), kind)
	}
}

// renderCollector exports each template's render counters at scrape time,
// from the renderer's status (counters carried over SIGHUP reloads), and
// the runtime counters of the HAProxy a template drives.
type renderCollector struct {
	status   func() []templateTotals
	counters []*prometheus.Desc // renders, installs, failures, reloads, applied
	ok       *prometheus.Desc
	last     *prometheus.Desc
	backends *prometheus.Desc
	excluded *prometheus.Desc
	pending  *prometheus.Desc
	runtime  runtimeDescs
}

func newRenderCollector(status func() []templateTotals) *renderCollector {
	lbl := []string{"template"}
	return &renderCollector{
		status:  status,
		runtime: newRuntimeDescs(),
		counters: []*prometheus.Desc{
			prometheus.NewDesc("shoal_render_renders_total", "Render attempts.", lbl, nil),
			prometheus.NewDesc("shoal_render_installs_total", "Renders that changed the destination file.", lbl, nil),
			prometheus.NewDesc("shoal_render_failures_total", "Failed renders: template, floor guard, validation, write or reload.", lbl, nil),
			prometheus.NewDesc("shoal_render_reloads_total", "Successful load-balancer reloads for the template.", lbl, nil),
			prometheus.NewDesc("shoal_render_applied_total", "Installs the load balancer took without a reload (HAProxy's Runtime API).", lbl, nil),
		},
		ok:       prometheus.NewDesc("shoal_render_ok", "1 if the template's last render succeeded.", lbl, nil),
		last:     prometheus.NewDesc("shoal_render_last_timestamp_seconds", "When the last render attempt finished.", lbl, nil),
		backends: prometheus.NewDesc("shoal_render_backends", "Backends in the installed file.", lbl, nil),
		excluded: prometheus.NewDesc("shoal_render_excluded_members", "Members left out of rendering for unsafe values.", lbl, nil),
		pending: prometheus.NewDesc("shoal_render_reload_pending",
			"1 while the installed file is not live: its reload failed and is being retried.", lbl, nil),
	}
}

func (c *renderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d
	}
	ch <- c.ok
	ch <- c.last
	ch <- c.backends
	ch <- c.excluded
	ch <- c.pending
	c.runtime.describe(ch)
}

func (c *renderCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.status() {
		for i, v := range []uint64{s.Renders, s.Installs, s.Failures, s.Reloads, s.Applied} {
			ch <- prometheus.MustNewConstMetric(c.counters[i], prometheus.CounterValue, float64(v), s.Name)
		}
		ok := 0.0
		if s.OK && s.TemplateError == "" {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, ok, s.Name)
		if !s.LastRender.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.LastRender.UnixNano())/1e9, s.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.backends, prometheus.GaugeValue, float64(s.Backends), s.Name)
		ch <- prometheus.MustNewConstMetric(c.excluded, prometheus.GaugeValue, float64(len(s.Excluded)), s.Name)
		pending := 0.0
		if s.ReloadPending {
			pending = 1
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, pending, s.Name)
		c.runtime.collect(ch, s)
	}
}

// lazyCollector builds its collectors at the first scrape. The Go
// runtime collector matches every runtime/metrics name against its rules
// when it is made: about 0.4 ms of CPU (and garbage) that an agent would
// otherwise spend between its start and its join, when ten agents starting
// at once on a small machine compete for the CPU, for metrics that only a
// scrape reads. It describes nothing, so the registry treats it as
// unchecked; the metrics it collects are those of the collectors it makes.
type lazyCollector struct {
	once       sync.Once
	make       func() []prometheus.Collector
	collectors []prometheus.Collector
}

func (*lazyCollector) Describe(chan<- *prometheus.Desc) {}

func (l *lazyCollector) Collect(ch chan<- prometheus.Metric) {
	l.once.Do(func() { l.collectors = l.make() })
	for _, c := range l.collectors {
		c.Collect(ch)
	}
}
