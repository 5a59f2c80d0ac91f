package metrics

import (
	"strings"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"
)

// Sink is a go-metrics sink that a registry exports: memberlist reports
// through go-metrics, and an agent's Sink holds that agent's share. It
// names and types metrics as go-metrics' Prometheus sink did: the key's
// parts joined by "_" (so memberlist's "memberlist.tcp.accept", under the
// service name "shoal", is shoal_memberlist_tcp_accept), the name as its
// HELP, gauges as gauges, counters as counters, samples (timers) as
// summaries. Entries never expire: the old bridge was built without an
// expiration, which kept them forever too.
//
// A summary here has only _sum and _count, both since the start, which
// give rate-based averages; the old bridge also kept 0.5/0.9/0.99
// quantiles over a 10 s window, which cost a streaming estimator per
// timer for numbers that the averages and memberlist's own logs cover.
type Sink struct {
	mu      sync.Mutex
	entries map[string]*sinkEntry
}

type sinkEntry struct {
	name   string
	kind   Kind
	labels []Label // sorted by name
	value  float64 // a summary's sum
	count  uint64  // summaries only
}

var _ gometrics.MetricSink = (*Sink)(nil)

// NewSink returns an empty sink; register it to export what it receives.
func NewSink() *Sink { return &Sink{entries: map[string]*sinkEntry{}} }

// SetGauge sets a gauge.
func (s *Sink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }

// SetGaugeWithLabels sets a gauge.
func (s *Sink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.update(GaugeKind, key, labels, func(e *sinkEntry) { e.value = float64(val) })
}

// EmitKey does nothing: a key-value event has no Prometheus type (the old
// bridge ignored it too).
func (s *Sink) EmitKey([]string, float32) {}

// IncrCounter adds to a counter.
func (s *Sink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }

// IncrCounterWithLabels adds to a counter; a negative increment, which a
// counter cannot take, is dropped.
func (s *Sink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if val < 0 {
		return
	}
	s.update(CounterKind, key, labels, func(e *sinkEntry) { e.value += float64(val) })
}

// AddSample observes a sample (a timer's milliseconds, a queue's depth).
func (s *Sink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

// AddSampleWithLabels observes a sample.
func (s *Sink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.update(SummaryKind, key, labels, func(e *sinkEntry) {
		e.value += float64(val)
		e.count++
	})
}

// update applies f to the entry of kind, key and labels, made on first use.
func (s *Sink) update(kind Kind, key []string, labels []gometrics.Label, f func(*sinkEntry)) {
	name := sanitize(strings.Join(key, "_"), false)
	lbl := make([]Label, len(labels))
	for i, l := range labels {
		lbl[i] = Label{Name: sanitize(l.Name, true), Value: l.Value}
	}
	sortLabels(lbl)
	var id strings.Builder
	id.WriteByte(byte('0' + kind))
	id.WriteString(name)
	for _, l := range lbl {
		id.WriteString("\xff" + l.Name + "\xff" + l.Value)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id.String()]
	if e == nil {
		e = &sinkEntry{name: name, kind: kind, labels: lbl}
		s.entries[id.String()] = e
	}
	f(e)
}

// Collect reports every entry, its name as its HELP.
func (s *Sink) Collect(sc *Scrape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		m := Metric{Labels: e.labels, Value: e.value}
		if e.kind == SummaryKind {
			m = Metric{Labels: e.labels, Sum: e.value, Count: e.count}
		}
		sc.add(e.name, e.name, e.kind, m)
	}
}

// sanitize makes a go-metrics key or label name a valid Prometheus name:
// the old bridge replaced ' ', '.', '=', '-' and '/' with '_'; any other
// character that a name cannot hold is replaced too, rather than fail
// every scrape.
func sanitize(s string, label bool) string {
	valid := func(i int, c byte) bool {
		return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' || !label && c == ':'
	}
	if s == "" {
		return "_"
	}
	for i := 0; i < len(s); i++ {
		if !valid(i, s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if !valid(j, b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return s
}
