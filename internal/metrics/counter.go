package metrics

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a float64 that only goes up, safe for concurrent use.
type Counter struct {
	desc   *Desc
	values []string // label values, for a CounterVec's child
	bits   atomic.Uint64
}

// NewCounter returns a counter with no labels.
func NewCounter(name, help string) *Counter {
	return &Counter{desc: NewDesc(name, help, CounterKind)}
}

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v; a counter never goes down, so a negative v is ignored.
func (c *Counter) Add(v float64) {
	if !(v > 0) {
		return
	}
	addFloat(&c.bits, v)
}

// Value is the counter's current value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Collect reports the counter.
func (c *Counter) Collect(s *Scrape) { s.Add(c.desc, c.Value(), c.values...) }

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// CounterVec is a family of counters, one per set of label values.
type CounterVec struct {
	desc     *Desc
	mu       sync.Mutex
	children map[string]*Counter
}

// NewCounterVec returns a counter family with the given label names.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{desc: NewDesc(name, help, CounterKind, labels...), children: map[string]*Counter{}}
}

// WithLabelValues returns the counter of these label values (in the order
// of the label names), made at 0 on first use. The wrong number of
// values is a programming error and panics.
func (v *CounterVec) WithLabelValues(values ...string) *Counter {
	if len(values) != len(v.desc.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for %d labels", v.desc.name, len(values), len(v.desc.labels)))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.children[key]
	if c == nil {
		c = &Counter{desc: v.desc, values: append([]string(nil), values...)}
		v.children[key] = c
	}
	return c
}

// Collect reports every counter of the family.
func (v *CounterVec) Collect(s *Scrape) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.children {
		c.Collect(s)
	}
}

// GaugeFunc is a gauge whose value a function gives at scrape time.
type GaugeFunc struct {
	desc   *Desc
	values []string
	fn     func() float64
}

// NewGaugeFunc returns a gauge that reads fn at each scrape, with
// constant labels (shoal_build_info's version).
func NewGaugeFunc(name, help string, fn func() float64, labels ...Label) *GaugeFunc {
	names := make([]string, len(labels))
	values := make([]string, len(labels))
	for i, l := range labels {
		names[i], values[i] = l.Name, l.Value
	}
	return &GaugeFunc{desc: NewDesc(name, help, GaugeKind, names...), values: values, fn: fn}
}

// Collect reports fn's value.
func (g *GaugeFunc) Collect(s *Scrape) { s.Add(g.desc, g.fn(), g.values...) }
