package metrics

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// goCollector reports the Go runtime's metrics under the names, types and
// HELP texts of the Prometheus client's Go collector. It reads
// runtime.ReadMemStats and debug.ReadGCStats, not runtime/metrics, whose
// package init alone costs every shoal process more than a scrape of all
// of these; go_gc_gogc_percent is left out, since only runtime/metrics can
// read GOGC without setting it.
type goCollector struct {
	once  sync.Once
	descs *goDescs
}

// NewGoCollector returns the Go runtime collector. It builds its
// descriptions at the first scrape, so an agent that is never scraped
// spends nothing on it.
func NewGoCollector() Collector { return &goCollector{} }

type goDescs struct {
	goroutines, threads, gcDuration, lastGC, info, gomaxprocs, memlimit *Desc
	memstats                                                            []memstat
}

type memstat struct {
	desc *Desc
	eval func(*runtime.MemStats) uint64
}

func newGoDescs() *goDescs {
	d := &goDescs{
		goroutines: NewDesc("go_goroutines", "Number of goroutines that currently exist.", GaugeKind),
		threads:    NewDesc("go_threads", "Number of OS threads created.", GaugeKind),
		gcDuration: NewDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", SummaryKind),
		lastGC:     NewDesc("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", GaugeKind),
		info:       NewDesc("go_info", "Information about the Go environment.", GaugeKind, "version"),
		gomaxprocs: NewDesc("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", GaugeKind),
		memlimit:   NewDesc("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", GaugeKind),
	}
	for _, m := range memstatTable {
		kind := GaugeKind
		if m.counter {
			kind = CounterKind
		}
		d.memstats = append(d.memstats, memstat{desc: NewDesc("go_memstats_"+m.name, m.help, kind), eval: m.eval})
	}
	return d
}

// memstatTable is the Prometheus client's go_memstats_* set, with its
// HELP texts (which name the runtime/metrics each MemStats field equals).
var memstatTable = []struct {
	name, help string
	counter    bool
	eval       func(*runtime.MemStats) uint64
}{
	{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.Alloc }},
	{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", true, func(m *runtime.MemStats) uint64 { return m.TotalAlloc }},
	{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", false, func(m *runtime.MemStats) uint64 { return m.Sys }},
	{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Mallocs }},
	{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", true, func(m *runtime.MemStats) uint64 { return m.Frees }},
	{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapAlloc }},
	{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapSys }},
	{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapIdle }},
	{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", false, func(m *runtime.MemStats) uint64 { return m.HeapInuse }},
	{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", false, func(m *runtime.MemStats) uint64 { return m.HeapReleased }},
	{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", false, func(m *runtime.MemStats) uint64 { return m.HeapObjects }},
	{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackInuse }},
	{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", false, func(m *runtime.MemStats) uint64 { return m.StackSys }},
	{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanInuse }},
	{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MSpanSys }},
	{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheInuse }},
	{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", false, func(m *runtime.MemStats) uint64 { return m.MCacheSys }},
	{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", false, func(m *runtime.MemStats) uint64 { return m.BuckHashSys }},
	{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.GCSys }},
	{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", false, func(m *runtime.MemStats) uint64 { return m.OtherSys }},
	{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", false, func(m *runtime.MemStats) uint64 { return m.NextGC }},
}

// Collect reads the runtime's statistics.
func (c *goCollector) Collect(s *Scrape) {
	c.once.Do(func() { c.descs = newGoDescs() })
	d := c.descs
	s.Add(d.goroutines, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.Add(d.threads, float64(threads))
	s.Add(d.info, 1, runtime.Version())
	s.Add(d.gomaxprocs, float64(runtime.GOMAXPROCS(0)))
	s.Add(d.memlimit, float64(debug.SetMemoryLimit(-1))) // -1 reads, sets nothing

	// The GC pauses' quantiles 0, 0.25, 0.5, 0.75 and 1, as the client
	// reported them.
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	qs := make([]Quantile, len(gc.PauseQuantiles))
	for i, p := range gc.PauseQuantiles {
		qs[i] = Quantile{Q: float64(i) / float64(len(gc.PauseQuantiles)-1), V: p.Seconds()}
	}
	s.AddSummary(d.gcDuration, uint64(gc.NumGC), gc.PauseTotal.Seconds(), qs)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range d.memstats {
		s.Add(m.desc, float64(m.eval(&ms)))
	}
	s.Add(d.lastGC, float64(ms.LastGC)/1e9)
}
