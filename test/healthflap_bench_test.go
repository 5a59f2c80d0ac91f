//go:build linux

package test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/test/internal/procstat"
)

// FlapHCL declares service web:8080 with an http check every 100 ms of a
// path that answers 200 and 503 in turn while the host's flap file exists
// (shoaltool serve -flap-path /flap -flap-file): the check flips on every
// run, ten times a second.
const FlapHCL = `
service {
  name = "web"
  port = 8080
  check {
    http     = "http://127.0.0.1:8080/flap"
    interval = "100ms"
  }
}
`

// TestBenchHealthFlap runs ten agents on the shipped LAN timings, each
// with one http check every 100 ms, first passing steadily (the baseline
// window, BASELINE seconds, default 20), then flipping on every run
// (WINDOW seconds, default 60), and reports per node and second: check
// transitions, catalog broadcasts (shoal_catalog_messages_total), catalog
// records received, handler runs by event type (health and the others),
// the agent's CPU (utime + stime from /proc) and its handler scripts'
// (cutime + cstime). SHOAL_BENCH=1 runs it (test/health-flap.sh).
func TestBenchHealthFlap(t *testing.T) {
	if os.Getenv("SHOAL_BENCH") != "1" {
		t.Skip("skipping: set SHOAL_BENCH=1 (or run test/health-flap.sh) for the flapping-check benchmark")
	}
	needNetns(t)
	baseline := time.Duration(envInt("BASELINE", 20)) * time.Second
	window := time.Duration(envInt("WINDOW", 60)) * time.Second
	c := NewCluster(t, bins, Options{Web: 10, Gossip: DefaultGossip, WebHCL: FlapHCL,
		BackendArgs: []string{"-flap-path", "/flap", "-flap-file", "{{dir}}/flap"}})
	c.WaitConverged(3 * time.Minute)
	var all []string
	for _, a := range c.Web {
		all = append(all, a.IP)
	}
	slices.Sort(all)
	WaitFor(t, time.Minute, func() error {
		for _, a := range c.All() {
			got, err := a.Dig(webName, "A")
			if err != nil {
				return err
			}
			if !slices.Equal(got, all) {
				return fmt.Errorf("%s's DNS answers %v, want all %d web hosts %v", a.Name, got, len(all), all)
			}
		}
		return nil
	})
	// Member joins reach handlers in batches (up to 3 s late): let them
	// all run before the windows open.
	WaitFor(t, time.Minute, func() error { return checkJoinsHandled(c) })
	steady := measureFlap(t, c, baseline)
	for _, a := range c.Web {
		if err := os.WriteFile(filepath.Join(a.Dir, "flap"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flapping := measureFlap(t, c, window)
	fmt.Printf("\n10 agents, LAN timings, one http check each every 100 ms; per node, per second (min / median / max over the nodes)\n")
	fmt.Printf("| phase | check transitions | catalog broadcasts | catalog records received | health handler runs | other handler runs | agent CPU (%% of a core) | handler scripts' CPU (%%) |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| steady, %s | %s |\n", baseline, steady)
	fmt.Printf("| flapping, %s | %s |\n\n", window, flapping)
	for _, a := range c.Web {
		t.Logf("%s steady: %s", a.Name, steady.nodes[a.Name])
		t.Logf("%s flapping: %s", a.Name, flapping.nodes[a.Name])
	}
}

// checkJoinsHandled returns nil once every agent's handler ran for the
// join of every member.
func checkJoinsHandled(c *Cluster) error {
	for _, a := range c.All() {
		var joins strings.Builder
		for _, l := range a.Events() {
			if strings.HasPrefix(l, "member-join ") {
				joins.WriteString(l + ";")
			}
		}
		for _, name := range c.Names() {
			if !strings.Contains(joins.String(), name+"\t") {
				return fmt.Errorf("%s's handler has not run for %s's join yet (joins seen: %q)", a.Name, name, joins.String())
			}
		}
	}
	return nil
}

// flapCounters are one agent's counters at one instant.
type flapCounters struct {
	transitions, broadcasts, received float64
	runs                              map[string]float64 // handler runs by event type
	cpu, children                     time.Duration      // the agent's, its handler scripts'
}

func (f flapCounters) String() string {
	types := slices.Sorted(maps.Keys(f.runs))
	var runs []string
	for _, typ := range types {
		runs = append(runs, fmt.Sprintf("%s %.2f/s", typ, f.runs[typ]))
	}
	return fmt.Sprintf("transitions %.1f/s, broadcasts %.2f/s, received %.1f/s, handler runs [%s], cpu %.1f%%, handlers' cpu %.1f%%",
		f.transitions, f.broadcasts, f.received, strings.Join(runs, ", "), 100*f.cpu.Seconds(), 100*f.children.Seconds())
}

// otherRuns counts the handler runs of events other than health.
func (f flapCounters) otherRuns() float64 {
	var n float64
	for typ, v := range f.runs {
		if typ != "health" {
			n += v
		}
	}
	return n
}

// flapWindow holds every node's rates over one window: counters per
// second, CPU in seconds per second.
type flapWindow struct{ nodes map[string]flapCounters }

// String is the row of the report: min / median / max over the nodes.
func (w flapWindow) String() string {
	cols := []func(flapCounters) float64{
		func(f flapCounters) float64 { return f.transitions },
		func(f flapCounters) float64 { return f.broadcasts },
		func(f flapCounters) float64 { return f.received },
		func(f flapCounters) float64 { return f.runs["health"] },
		func(f flapCounters) float64 { return f.otherRuns() },
		func(f flapCounters) float64 { return 100 * f.cpu.Seconds() },
		func(f flapCounters) float64 { return 100 * f.children.Seconds() },
	}
	var out []string
	for _, col := range cols {
		var vs []float64
		for _, f := range w.nodes {
			vs = append(vs, col(f))
		}
		slices.Sort(vs)
		out = append(out, fmt.Sprintf("%.2f / %.2f / %.2f", vs[0], vs[len(vs)/2], vs[len(vs)-1]))
	}
	return strings.Join(out, " | ")
}

// measureFlap reads every agent's counters, lets window pass, reads them
// again and returns the rates.
func measureFlap(t *testing.T, c *Cluster, window time.Duration) flapWindow {
	t.Helper()
	before := readAllFlap(t, c)
	start := time.Now()
	time.Sleep(window) // the measurement window, not synchronisation
	after := readAllFlap(t, c)
	took := time.Since(start).Seconds()
	w := flapWindow{nodes: map[string]flapCounters{}}
	for name, a := range after {
		b := before[name]
		runs := map[string]float64{}
		for typ, n := range a.runs {
			if d := n - b.runs[typ]; d > 0 {
				runs[typ] = d / took
			}
		}
		w.nodes[name] = flapCounters{
			transitions: (a.transitions - b.transitions) / took,
			broadcasts:  (a.broadcasts - b.broadcasts) / took,
			received:    (a.received - b.received) / took,
			runs:        runs,
			cpu:         time.Duration(float64(a.cpu-b.cpu) / took),
			children:    time.Duration(float64(a.children-b.children) / took),
		}
	}
	return w
}

func readAllFlap(t *testing.T, c *Cluster) map[string]flapCounters {
	t.Helper()
	out := map[string]flapCounters{}
	for _, a := range c.All() {
		f, err := readFlap(a)
		if err != nil {
			t.Fatal(err)
		}
		out[a.Name] = f
	}
	return out
}

// readFlap reads one agent's counters: its check transitions (the "check
// status changed" lines of its log), its catalog counters (/metrics), its
// handler runs (lines of its handler's file, one per run, the first word
// the event type) and its CPU time.
func readFlap(a *Agent) (flapCounters, error) {
	f := flapCounters{runs: map[string]float64{}}
	cpu, err := procstat.CPUTime(a.Proc.Pid())
	if err != nil {
		return f, err
	}
	f.cpu = cpu
	if f.children, err = procstat.ChildrenCPUTime(a.Proc.Pid()); err != nil {
		return f, err
	}
	log, err := os.ReadFile(a.Proc.Log)
	if err != nil {
		return f, err
	}
	f.transitions = float64(strings.Count(string(log), `msg="check status changed"`))
	for _, line := range a.Events() {
		if typ, _, _ := strings.Cut(line, " "); typ != "" {
			f.runs[typ]++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	metrics, err := a.Exec(ctx, nil, "curl", "-sS", "-m", "5", "http://"+HTTPAddr+"/metrics")
	if err != nil {
		return f, fmt.Errorf("%s /metrics: %w", a.Name, err)
	}
	if f.broadcasts, err = metricValue(metrics, `shoal_catalog_messages_total{kind="broadcast"}`); err != nil {
		return f, fmt.Errorf("%s: %w", a.Name, err)
	}
	if f.received, err = metricValue(metrics, `shoal_catalog_messages_total{kind="received"}`); err != nil {
		return f, fmt.Errorf("%s: %w", a.Name, err)
	}
	return f, nil
}

// metricValue finds one sample (name with its labels) in a Prometheus text
// exposition.
func metricValue(text, series string) (float64, error) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", series)
}
