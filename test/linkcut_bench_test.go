//go:build linux

package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBenchLinkCut measures how long after a backend host's link is cut
// every load balancer stops sending it new connections, and how many
// requests fail meanwhile, on the shipped LAN timings (1 s probes, 500 ms
// probe timeout, suspicion multiplier 4), in five namespaces: three web
// hosts and two lbs, each lb under a steady load of a new connection per
// request, 100 a second. It compares draining on suspicion (the default) with
// drain_on_suspect = false, both on the runtime path, with a reload for
// every change (no runtime socket), and with probes every 500 ms instead
// of 1 s. SHOAL_BENCH=1 runs it
// (test/link-cut.sh); ROUNDS sets the rounds per mode (default 5).
func TestBenchLinkCut(t *testing.T) {
	if os.Getenv("SHOAL_BENCH") != "1" {
		t.Skip("skipping: set SHOAL_BENCH=1 (or run test/link-cut.sh) for the link-cut benchmark")
	}
	needShoal(t)
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	noDrain := strings.Replace(LBTemplate, "min_backends = 1", "min_backends = 1\n  drain_on_suspect = false", 1)
	// What meets 2.5 s: probes twice as often (the probe timeout halved
	// with them, still hundreds of LAN round trips).
	fastProbes := DefaultGossip + "gossip {\n  probe_interval = \"500ms\"\n  probe_timeout = \"250ms\"\n}\n"
	modes := []struct{ short, name, gossip, lbhcl string }{
		{"drain", "runtime path, drain on suspicion (default)", DefaultGossip, LBTemplate},
		{"nodrain", "runtime path, drain_on_suspect = false", DefaultGossip, noDrain},
		{"reload", "reload every change, drain_on_suspect = false", DefaultGossip, reloadTemplate(t)},
		{"drain500ms", "runtime path, drain on suspicion, probe_interval 500ms", fastProbes, LBTemplate},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\nlink cut on a backend host, 3 web + 2 lb hosts, LAN timings, %d rounds per mode\n", rounds)
	fmt.Fprintf(&report, "| mode | stop, median | min | max | rounds (s) | first suspicion (s) | failed requests per round |\n|---|---|---|---|---|---|---|\n")
	for _, m := range modes {
		t.Run(m.short, func(t *testing.T) {
			c := NewCluster(t, bins, Options{Web: 3, LBs: 2, Gossip: m.gossip, LBHCL: m.lbhcl})
			c.WaitConverged(2 * time.Minute)
			var stops, suspects []time.Duration
			var failed []int
			for i := range rounds {
				r := linkCutRound(t, c, c.Web[i%len(c.Web)])
				t.Logf("round %d: %s", i+1, r)
				stops, suspects, failed = append(stops, r.stop), append(suspects, r.suspected), append(failed, r.failed)
			}
			fmt.Fprintf(&report, "| %s | %s | %s | %s | %s | %s | %v |\n", m.name,
				secs(median(stops)), secs(slices.Min(stops)), secs(slices.Max(stops)), secsList(stops), secsList(suspects), failed)
		})
	}
	fmt.Print(report.String() + "\n")
}

// reloadTemplate is LBTemplate with the runtime path and the drain off:
// shoal reloads haproxy through its master CLI for every change, as
// before the Runtime API path.
func reloadTemplate(t *testing.T) string {
	return strings.Replace(LBTemplate, "min_backends = 1", "min_backends = 1\n  no_runtime = true\n  drain_on_suspect = false", 1)
}

// cutResult is one round: when the last lb stopped sending the victim new
// connections and how (weight 0, maint, removed, health check down), when
// the first node suspected it, and the requests that failed.
type cutResult struct {
	stop, suspected time.Duration
	how             []string
	failed          int
}

func (r cutResult) String() string {
	return fmt.Sprintf("every lb stopped after %s (%s); first suspicion after %s; %d requests failed",
		r.stop.Round(time.Millisecond), strings.Join(r.how, ", "), r.suspected.Round(time.Millisecond), r.failed)
}

// linkCutRound cuts victim's link under load, waits until every lb stops
// sending it new connections, lets the requests in flight time out, then
// heals the link, rejoins and waits for the pool to be whole again.
func linkCutRound(t *testing.T, c *Cluster, victim *Agent) cutResult {
	t.Helper()
	const reqTimeout, loadRate = 3 * time.Second, 100
	var loads []*BackgroundLoad
	for _, lb := range c.LBs {
		// Open loop, so that every request the lb sends the cut host
		// counts, however long it hangs.
		l, err := lb.StartLoad("load", bins.Tool, LBURL, "-rate", strconv.Itoa(loadRate), "-duration", "5m", "-timeout", reqTimeout.String())
		if err != nil {
			t.Fatal(err)
		}
		loads = append(loads, l)
	}
	start := time.Now()
	if err := victim.SetLink(false); err != nil {
		t.Fatal(err)
	}
	var r cutResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, lb := range c.LBs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			how, err := waitStopped(lb.HAProxy, victim.Name, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", lb.Name, err)
				return
			}
			r.stop = max(r.stop, time.Since(start))
			r.how = append(r.how, lb.Name+": "+how)
		}()
	}
	wg.Wait()
	// Requests sent to the victim before the lbs stopped fail when their
	// timeout passes; let them.
	time.Sleep(reqTimeout + time.Second) // a measurement window, not synchronisation
	for _, l := range loads {
		res, err := l.Stop()
		if err != nil {
			t.Fatal(err)
		}
		r.failed += res.Failed
	}
	r.suspected = firstSuspicion(c, victim.Name, start)

	if err := victim.SetLink(true); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, time.Minute, func() error {
		out, err := victim.Shoal(t.Context(), "join", fmt.Sprintf("%s:%d", c.LB.IP, GossipPort))
		if err != nil {
			return fmt.Errorf("rejoin: %v: %s", err, out)
		}
		return CheckStatus(c.All(), c.Names(), "alive")
	})
	for _, lb := range c.LBs {
		WaitFor(t, time.Minute, func() error { return serving(lb.HAProxy, lb.Name, c.WebNames()) })
	}
	return r
}

// serverRow is one server of "show servers state": its weight,
// administrative and operational state, and address (host:port).
type serverRow struct {
	weight, admin, op int
	addr              string
}

func serversState(hp *HAProxy) (map[string]serverRow, error) {
	out, err := hp.Command("@1 show servers state svc_web")
	if err != nil {
		return nil, err
	}
	rows := map[string]serverRow{}
	var col map[string]int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 1 && f[0] == "#":
			col = map[string]int{}
			for i, name := range f[1:] {
				col[name] = i
			}
		case col != nil && len(f) > col["srv_op_state"] && len(f) > col["srv_uweight"]:
			var r serverRow
			r.weight, _ = strconv.Atoi(f[col["srv_uweight"]])
			r.admin, _ = strconv.Atoi(f[col["srv_admin_state"]])
			r.op, _ = strconv.Atoi(f[col["srv_op_state"]])
			if a, p := col["srv_addr"], col["srv_port"]; len(f) > max(a, p) {
				r.addr = net.JoinHostPort(f[a], f[p])
			}
			rows[f[col["srv_name"]]] = r
		}
	}
	if col == nil {
		return nil, fmt.Errorf("show servers state: no header in %q", out)
	}
	return rows, nil
}

// waitStopped polls haproxy until it sends name no new connections,
// and says why: weight 0 (drained), maintenance or drain state, removed,
// or its health check found it down.
func waitStopped(hp *HAProxy, name string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		rows, err := serversState(hp)
		if err == nil {
			row, ok := rows[name]
			switch {
			case !ok:
				return "removed", nil
			case row.admin&0x09 != 0:
				return "maint/drain", nil
			case row.weight == 0:
				return "weight 0", nil
			case row.op == 0:
				return "health check down", nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling haproxy's state
	}
	return "", fmt.Errorf("haproxy still sends %s new connections after %s", name, timeout)
}

// serving returns nil once haproxy (of the host called label) runs every
// named server up, at its weight, in no special state.
func serving(hp *HAProxy, label string, names []string) error {
	rows, err := serversState(hp)
	if err != nil {
		return err
	}
	for _, n := range names {
		if r, ok := rows[n]; !ok || r.weight == 0 || r.admin != 0 || r.op != 2 {
			return fmt.Errorf("%s: server %s is %+v (listed %t), want up at its weight", label, n, r, ok)
		}
	}
	return nil
}

// firstSuspicion reads the agents' logs for the first "member suspected"
// line about name after start.
func firstSuspicion(c *Cluster, name string, start time.Time) time.Duration {
	var logs []string
	for _, a := range c.All() {
		logs = append(logs, a.Proc.Log)
	}
	return firstLogLine(logs, start, `msg="member suspected"`, " member="+name+" ")
}

// firstLogLine returns how long after start the first agent log line
// holding every one of needles was written, across the log files, or -1
// when there is none.
func firstLogLine(logs []string, start time.Time, needles ...string) time.Duration {
	var first time.Time
	for _, path := range logs {
		for _, at := range logTimes(path, start, needles...) {
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
	}
	if first.IsZero() {
		return -1
	}
	return first.Sub(start)
}

// logTimes returns the times of the lines of an agent's log written after
// start that hold every one of needles (none when the file is unreadable).
func logTimes(path string, start time.Time, needles ...string) []time.Time {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []time.Time
lines:
	for _, line := range strings.Split(string(data), "\n") {
		for _, n := range needles {
			if !strings.Contains(line, n) {
				continue lines
			}
		}
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "time=") {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time="))
		if err == nil && at.After(start) {
			out = append(out, at)
		}
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func secsList(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(out, " ")
}
