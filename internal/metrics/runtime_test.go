package metrics

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// The Go and process collectors report the Prometheus client's names,
// which test/idle-rss.sh and dashboards read, with plausible values.
func TestRuntimeCollectors(t *testing.T) {
	runtime.GC() // a GC to report
	reg := NewRegistry()
	reg.Register(NewGoCollector(), NewProcessCollector())
	got := values(t, reg)
	positive := []string{
		"go_goroutines", "go_threads", "go_gc_duration_seconds_count", `go_info{version="` + runtime.Version() + `"}`,
		"go_sched_gomaxprocs_threads", "go_gc_gomemlimit_bytes", "go_memstats_last_gc_time_seconds",
		"go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total", "go_memstats_sys_bytes", "go_memstats_mallocs_total",
		"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_objects",
		"go_memstats_stack_inuse_bytes", "go_memstats_next_gc_bytes", "go_memstats_heap_sys_bytes",
	}
	if runtime.GOOS == "linux" {
		positive = append(positive, "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
			"process_open_fds", "process_max_fds", "process_start_time_seconds", "process_virtual_memory_max_bytes")
		for _, name := range []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
			if _, ok := got[name]; !ok {
				t.Errorf("%s missing", name)
			}
		}
		if _, ok := got["go_memstats_heap_released_bytes"]; !ok {
			t.Error("go_memstats_heap_released_bytes missing")
		}
		start := time.Unix(int64(got["process_start_time_seconds"]), 0)
		if d := time.Since(start); d < 0 || d > 24*time.Hour {
			t.Errorf("process_start_time_seconds = %v, %v ago", start, d)
		}
	}
	for _, name := range positive {
		if v, ok := got[name]; !ok || !(v > 0) {
			t.Errorf("%s = %v (found %v), want > 0", name, v, ok)
		}
	}
	if a, s := got["go_memstats_heap_alloc_bytes"], got["go_memstats_heap_sys_bytes"]; a > s {
		t.Errorf("heap_alloc %v > heap_sys %v", a, s)
	}

	// The whole scrape is valid exposition.
	parsed := parse(t, scrape(t, reg))
	gc := parsed["go_gc_duration_seconds"].GetMetric()[0].GetSummary()
	if len(gc.GetQuantile()) != 5 || gc.GetQuantile()[4].GetQuantile() != 1 {
		t.Errorf("go_gc_duration_seconds quantiles: %v", gc.GetQuantile())
	}
	for name := range parsed {
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected family %s", name)
		}
	}
}
