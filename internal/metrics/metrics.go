// Package metrics is shoal's Prometheus exposition: a registry per agent
// (no globals, so two agents in one process keep their own numbers) whose
// collectors report at scrape time, written in the text format 0.0.4.
//
// It replaces the Prometheus client library, whose package init (protobuf
// descriptors, procfs, expfmt) every CLI call paid for metrics that only
// an agent's scrape reads. It offers what shoal uses: counters, gauge
// funcs, collectors computed at scrape time (Desc and Scrape.Add), the Go
// runtime and process metrics, and a sink for memberlist's go-metrics.
package metrics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Kind is a metric family's type, as # TYPE names it.
type Kind uint8

const (
	CounterKind Kind = iota
	GaugeKind
	// SummaryKind families carry a count, a sum and optional quantiles.
	SummaryKind
)

func (k Kind) String() string {
	switch k {
	case CounterKind:
		return "counter"
	case GaugeKind:
		return "gauge"
	case SummaryKind:
		return "summary"
	}
	return "untyped"
}

// Desc describes a metric family whose samples a collector adds at scrape
// time: its name, HELP text, kind and the names of its variable labels.
type Desc struct {
	name   string
	help   string
	kind   Kind
	labels []string
}

// NewDesc returns the description of a family. An invalid metric or label
// name is a programming error and panics, as registering it with the
// Prometheus client did.
func NewDesc(name, help string, kind Kind, labels ...string) *Desc {
	if !validMetricName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for i, l := range labels {
		if !validLabelName(l) || (kind == SummaryKind && l == "quantile") || slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("metrics: %s: invalid or repeated label name %q", name, l))
		}
	}
	return &Desc{name: name, help: help, kind: kind, labels: labels}
}

// Name is the family's name.
func (d *Desc) Name() string { return d.name }

// Label is one label pair of a sample.
type Label struct {
	Name, Value string
}

// Quantile is one quantile of a summary: Q in [0, 1], its value V.
type Quantile struct {
	Q, V float64
}

// Metric is one sample (one label set) of a family.
type Metric struct {
	Labels []Label // sorted by name
	Value  float64 // counters and gauges
	// Summaries only.
	Count     uint64
	Sum       float64
	Quantiles []Quantile
}

// Family is a gathered metric family, its metrics sorted by label values.
type Family struct {
	Name    string
	Help    string
	Kind    Kind
	Metrics []Metric
}

// Collector reports its metrics when the registry is scraped.
type Collector interface {
	Collect(*Scrape)
}

// CollectorFunc is a Collector written as a function.
type CollectorFunc func(*Scrape)

// Collect calls f.
func (f CollectorFunc) Collect(s *Scrape) { f(s) }

// Registry is one agent's set of collectors.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds collectors; they report from the next scrape on.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, cs...)
}

// Gather runs every collector and returns the families sorted by name.
// Families that disagree (one name with two kinds or HELP texts, a
// sample collected twice, a summary's _sum or _count taken by another
// family) are an error, as they were for the Prometheus client's
// registry; the scrape then fails rather than serve a wrong answer.
func (r *Registry) Gather() ([]*Family, error) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	s := &Scrape{families: map[string]*Family{}}
	for _, c := range cs {
		c.Collect(s)
	}
	return s.finish()
}

// Scrape gathers the samples of one scrape; collectors add to it.
type Scrape struct {
	families map[string]*Family
	errs     []string
}

// Add adds a counter or gauge sample of d, labelValues in the order of
// d's label names.
func (s *Scrape) Add(d *Desc, v float64, labelValues ...string) {
	if lbl, ok := s.labels(d, labelValues); ok {
		s.add(d.name, d.help, d.kind, Metric{Labels: lbl, Value: v})
	}
}

// AddSummary adds a summary sample of d.
func (s *Scrape) AddSummary(d *Desc, count uint64, sum float64, quantiles []Quantile, labelValues ...string) {
	if lbl, ok := s.labels(d, labelValues); ok {
		s.add(d.name, d.help, d.kind, Metric{Labels: lbl, Count: count, Sum: sum, Quantiles: quantiles})
	}
}

func (s *Scrape) labels(d *Desc, values []string) ([]Label, bool) {
	if len(values) != len(d.labels) {
		s.errs = append(s.errs, fmt.Sprintf("%s: %d label values for %d labels", d.name, len(values), len(d.labels)))
		return nil, false
	}
	if len(values) == 0 {
		return nil, true
	}
	lbl := make([]Label, len(values))
	for i, v := range values {
		lbl[i] = Label{Name: d.labels[i], Value: v}
	}
	sortLabels(lbl)
	return lbl, true
}

// sortLabels orders label pairs by name, as the exposition writes them.
func sortLabels(lbl []Label) {
	slices.SortFunc(lbl, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
}

func (s *Scrape) add(name, help string, kind Kind, m Metric) {
	f := s.families[name]
	if f == nil {
		f = &Family{Name: name, Help: help, Kind: kind}
		s.families[name] = f
	} else if f.Kind != kind || f.Help != help {
		s.errs = append(s.errs, fmt.Sprintf("%s: collected as %s %q and as %s %q", name, f.Kind, f.Help, kind, help))
		return
	}
	f.Metrics = append(f.Metrics, m)
}

func (s *Scrape) finish() ([]*Family, error) {
	out := make([]*Family, 0, len(s.families))
	for _, f := range s.families {
		slices.SortFunc(f.Metrics, compareMetrics)
		for i := 1; i < len(f.Metrics); i++ {
			if compareMetrics(f.Metrics[i-1], f.Metrics[i]) == 0 {
				s.errs = append(s.errs, fmt.Sprintf("%s%s collected twice", f.Name, formatLabels(f.Metrics[i].Labels)))
			}
		}
		if f.Kind == SummaryKind {
			for _, suffix := range []string{"_sum", "_count"} {
				if _, ok := s.families[f.Name+suffix]; ok {
					s.errs = append(s.errs, fmt.Sprintf("%s%s is both a family and summary %s's series", f.Name, suffix, f.Name))
				}
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Family) int { return strings.Compare(a.Name, b.Name) })
	if len(s.errs) > 0 {
		slices.Sort(s.errs)
		return out, fmt.Errorf("inconsistent metrics: %s", strings.Join(s.errs, "; "))
	}
	return out, nil
}

// compareMetrics orders a family's metrics as the Prometheus client did:
// fewer labels first, then by label values in label-name order (names
// break ties between label sets of one length, which only go-metrics'
// families can have).
func compareMetrics(a, b Metric) int {
	if len(a.Labels) != len(b.Labels) {
		return len(a.Labels) - len(b.Labels)
	}
	for i := range a.Labels {
		if c := strings.Compare(a.Labels[i].Value, b.Labels[i].Value); c != 0 {
			return c
		}
	}
	for i := range a.Labels {
		if c := strings.Compare(a.Labels[i].Name, b.Labels[i].Name); c != 0 {
			return c
		}
	}
	return 0
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validLabelName also refuses names starting with __, which Prometheus
// keeps for itself.
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
