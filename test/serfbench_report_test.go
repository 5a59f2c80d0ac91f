//go:build linux

package test

import (
	"debug/buildinfo"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// eventPace separates the user events of a round, so that one event's
// handlers and retransmissions are not what the next one measures.
const eventPace = 300 * time.Millisecond

// events sends cfg.events user events, rotating the sender over the hosts,
// and returns per event the delay to the sender's own handler and to the
// last handler. The clock starts when the sender's CLI starts, as a user
// would see it. An event that some handler has not run after
// eventDeadline is counted as lost (and logged with the agents' last
// lines) instead of ending the run; one that reached every handler only
// after eventLate, by anti-entropy rather than gossip, counts as late and
// stays in every.
func (r *sideBySideRun) events() (sender, every []time.Duration, late, lost int, err error) {
	for i := range r.cfg.events {
		from := r.hosts[i%len(r.hosts)]
		name := fmt.Sprintf("sb%d", i)
		start := time.Now()
		if out, _, err := r.sys.cli(from, r.sys.event(name)...); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("%w: %s", err, out)
		}
		stamps, err := r.waitStamps(name, eventDeadline)
		if err != nil {
			r.t.Logf("%s %s: %v", r.sys.name, r.tag, err)
			lost++
			continue
		}
		last := stamps[from]
		for _, s := range stamps {
			if s.After(last) {
				last = s
			}
		}
		if last.Sub(start) > eventLate {
			late++
		}
		sender = append(sender, stamps[from].Sub(start))
		every = append(every, last.Sub(start))
		time.Sleep(eventPace) // pacing between measurements, not synchronisation
	}
	return sender, every, late, lost, nil
}

// eventDeadline is past the LAN profile's 30 s push/pull interval, so an
// event that gossip failed to bring has had one anti-entropy round to
// arrive; eventLate is far past any gossip delay on a LAN.
const (
	eventDeadline = 40 * time.Second
	eventLate     = 5 * time.Second
)

// waitStamps polls every host's event log until each has run its handler
// for the user event name, and returns the handlers' wall-clock stamps.
func (r *sideBySideRun) waitStamps(name string, timeout time.Duration) (map[*Host]time.Time, error) {
	deadline := time.Now().Add(timeout)
	stamps := map[*Host]time.Time{}
	for {
		for _, h := range r.hosts {
			if _, ok := stamps[h]; ok {
				continue
			}
			if ts, ok := findStamp(r.eventLog(h), name); ok {
				stamps[h] = ts
			}
		}
		if len(stamps) == len(r.hosts) {
			return stamps, nil
		}
		if time.Now().After(deadline) {
			// Name the hosts whose handler did not run, with their agents'
			// last lines (a dropped event or a failed run is logged).
			var missing []string
			for _, h := range r.hosts {
				if _, ok := stamps[h]; !ok {
					missing = append(missing, fmt.Sprintf("%s:\n%s", h.Name, r.procs[h].TailWithout(30, "level=DEBUG")))
				}
			}
			return nil, fmt.Errorf("after %s only %d of %d handlers ran for event %s; missing %s",
				timeout, len(stamps), len(r.hosts), name, strings.Join(missing, "\n"))
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// findStamp returns the stamp of the line "UNIXNANO NAME" in the log.
// A half-written last line is skipped and read on a later poll.
func findStamp(log, name string) (time.Time, bool) {
	data, err := os.ReadFile(log)
	if err != nil {
		return time.Time{}, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || f[1] != name {
			continue
		}
		if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			return time.Unix(0, ns), true
		}
	}
	return time.Time{}, false
}

// quantile is the nearest-rank q-quantile of vs (0 for none).
func quantile(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func quantileDur(ds []time.Duration, q float64) time.Duration {
	vs := make([]float64, len(ds))
	for i, d := range ds {
		vs[i] = float64(d)
	}
	return time.Duration(quantile(vs, q))
}

// metric is one table row: how to read it from a round, how to print it
// and the goal shoal's median must meet against Serf's (nil: no goal).
type metric struct {
	name   string
	pooled func(roundResult) []float64  // per-event samples, pooled over rounds
	round  func(roundResult) float64    // one value per round
	count  func(roundResult) (int, int) // two tallies summed over rounds
	unit   string                       // "ms" or "MB"
	goal   func(shoal, serf float64) (string, bool)
}

func atMost(factor float64) func(shoal, serf float64) (string, bool) {
	return func(shoal, serf float64) (string, bool) {
		return fmt.Sprintf("%.2f× Serf, goal ≤ %g×", shoal/serf, factor), shoal <= factor*serf
	}
}

func ms(ds []time.Duration) []float64 {
	vs := make([]float64, len(ds))
	for i, d := range ds {
		vs[i] = float64(d) / float64(time.Millisecond)
	}
	return vs
}

var sideBySideMetrics = []metric{
	{name: "user event → sender's handler", pooled: func(r roundResult) []float64 { return ms(r.sender) }, unit: "ms", goal: atMost(1)},
	{name: "user event → every handler", pooled: func(r roundResult) []float64 { return ms(r.every) }, unit: "ms", goal: atMost(1)},
	{name: "user events late (> 5 s, by anti-entropy) / lost (> 40 s)", count: func(r roundResult) (int, int) { return r.late, r.lost }},
	{name: "join convergence (start of h1 → all list N alive)", round: func(r roundResult) float64 { return ms([]time.Duration{r.converge})[0] }, unit: "ms", goal: atMost(1)},
	{name: "of which h1 start → its API answers", round: func(r roundResult) float64 { return ms([]time.Duration{r.ready})[0] }, unit: "ms"},
	{name: "of which start of h1 → the last agent's API answers", round: func(r roundResult) float64 { return ms([]time.Duration{r.lastUp})[0] }, unit: "ms"},
	{name: "one `join` call (fresh agent → h1, CLI)", round: func(r roundResult) float64 { return ms([]time.Duration{r.join})[0] }, unit: "ms"},
	{name: "one `members` call (CLI start + answer)", round: func(r roundResult) float64 { return ms([]time.Duration{r.members})[0] }, unit: "ms"},
	{name: "idle VmRSS per agent", round: func(r roundResult) float64 { return r.rss / 1024 }, unit: "MB", goal: atMost(1)},
	{name: "idle anonymous memory (RssAnon)", round: func(r roundResult) float64 { return r.anon / 1024 }, unit: "MB", goal: atMost(0.6)},
	{name: "idle PSS", round: func(r roundResult) float64 { return r.pss / 1024 }, unit: "MB"},
}

// summary prints samples and returns their median: per-event metrics as
// "median (p90 x)", per-round ones as "median (min–max)".
func (m metric) summary(rs []roundResult) (string, float64) {
	if m.count != nil {
		var a, b, events int
		for _, r := range rs {
			x, y := m.count(r)
			a, b, events = a+x, b+y, events+len(r.sender)+r.lost
		}
		return fmt.Sprintf("%d / %d of %d", a, b, events), float64(a + b)
	}
	var vs []float64
	for _, r := range rs {
		if m.pooled != nil {
			vs = append(vs, m.pooled(r)...)
		} else {
			vs = append(vs, m.round(r))
		}
	}
	f := func(v float64) string {
		if m.unit == "MB" {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	// The goal compares medians as printed: 15 ms against 15 ms is a tie.
	med, _ := strconv.ParseFloat(f(quantile(vs, 0.5)), 64)
	if m.pooled != nil {
		return fmt.Sprintf("%s %s (p90 %s)", f(med), m.unit, f(quantile(vs, 0.9))), med
	}
	return fmt.Sprintf("%s %s (%s–%s)", f(med), m.unit, f(quantile(vs, 0)), f(quantile(vs, 1))), med
}

// sideBySideTable renders the results as one Markdown table.
func sideBySideTable(cfg sideBySideConfig, systems []*benchSystem, res map[string]map[int][]roundResult) string {
	serf, shoal := systems[0], systems[1]
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s vs %s: %d rounds each, interleaved; %d user events per round; memory after %s idle; LAN profile, 32-byte key, coalescing off; shoal DNS %v\n\n",
		version(serf), version(shoal), cfg.rounds, cfg.events, cfg.settle, map[bool]string{true: "on", false: "off"}[cfg.shoalDNS])
	fmt.Fprintf(&b, "| measurement | hosts | Serf | shoal | goal |\n|---|---|---|---|---|\n")
	for _, n := range cfg.sizes {
		for _, m := range sideBySideMetrics {
			sText, sMed := m.summary(res[serf.name][n])
			hText, hMed := m.summary(res[shoal.name][n])
			goal := "—"
			if m.goal != nil {
				text, ok := m.goal(hMed, sMed)
				goal = map[bool]string{true: "met", false: "NOT met"}[ok] + " (" + text + ")"
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", m.name, n, sText, hText, goal)
		}
	}
	fmt.Fprintf(&b, "| binary size | — | %s | %s | — |\n\n", fileMB(serf.bin), fileMB(shoal.bin))
	return b.String()
}

// version names the binary: the module version go install stamped (Serf's
// `serf version` still says 0.8.2-dev in v0.10.2), or `BIN version`.
func version(s *benchSystem) string {
	if bi, err := buildinfo.ReadFile(s.bin); err == nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return s.name + " " + bi.Main.Version
	}
	out, err := exec.Command(s.bin, "version").Output()
	if err != nil {
		return s.name
	}
	return strings.TrimSpace(strings.Split(string(out), "\n")[0])
}

func fileMB(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
}
