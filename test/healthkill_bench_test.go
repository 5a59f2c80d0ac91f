//go:build linux

package test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// WebCheckHCL declares service web:8080 with the http check of issue 11's
// example: every second, half a second to answer.
const WebCheckHCL = `
service {
  name = "web"
  port = 8080
  check {
    http     = "http://127.0.0.1:8080/health"
    interval = "1s"
    timeout  = "500ms"
  }
}
`

// webName is the DNS name of service web; DNSWatch asks for its A records.
const webName = "web.service.shoal."

// refIndex places the reference haproxy's host in Subnet.
const refIndex = 9

// killTimeout bounds each measurement of a round.
const killTimeout = 30 * time.Second

// TestBenchHealthKill measures, on the shipped LAN timings, how long after
// a backend's web server is killed (its agent keeps running) every agent's
// DNS stops answering it and every load balancer stops sending it new
// connections, in six namespaces: three web hosts whose agents check their
// server over http every second (WebCheckHCL), two lbs on the built-in
// HAProxy template's runtime path, and a reference haproxy with no agent,
// running a copy of the lbs' rendered file, so haproxy's own check (inter
// 2s fall 3) is timed on the same kills. Goal: the check interval + 1 s.
// SHOAL_BENCH=1 runs it (test/health-kill.sh); ROUNDS sets the rounds
// (default 10).
func TestBenchHealthKill(t *testing.T) {
	if os.Getenv("SHOAL_BENCH") != "1" {
		t.Skip("skipping: set SHOAL_BENCH=1 (or run test/health-kill.sh) for the health-kill benchmark")
	}
	needShoal(t)
	rounds := envInt("ROUNDS", 10)
	c := NewCluster(t, bins, Options{Web: 3, LBs: 2, Gossip: DefaultGossip, WebHCL: WebCheckHCL})
	c.WaitConverged(2 * time.Minute)
	for _, lb := range c.LBs {
		lb.WaitServers(2*time.Minute, c.WebNames())
	}
	ref := startRefHAProxy(t, c)
	watches := startDNSWatches(t, c)
	waitAllHealthy(t, c, ref, watches)
	var rs []killResult
	for i := range rounds {
		r := killRound(t, c, ref, watches, c.Web[i%len(c.Web)])
		t.Logf("round %d: %s", i+1, r)
		rs = append(rs, r)
	}
	fmt.Print(killReport(rs) + "\n")
}

// killResult is one round. Durations count from the kill; -1 means not
// within killTimeout.
type killResult struct {
	victim   string
	critical time.Duration // the victim's agent logged its check critical
	dns      time.Duration // the last agent's DNS stopped answering the victim
	lb       time.Duration // the last lb stopped sending it new connections
	ref      time.Duration // the reference haproxy's own check marked it DOWN
	dnsEach  []string      // per agent, "name=seconds"
	lbHow    []string      // per lb, how it stopped
}

func (r killResult) String() string {
	return fmt.Sprintf("killed %s's server: its check critical after %s; every DNS after %s (%s); every lb after %s (%s); haproxy's own check after %s",
		r.victim, fmtDur(r.critical), fmtDur(r.dns), strings.Join(r.dnsEach, " "), fmtDur(r.lb), strings.Join(r.lbHow, ", "), fmtDur(r.ref))
}

// killRound kills victim's web server, times the DNS answers, the lbs and
// the reference haproxy, then restarts the server and waits until
// everything routes to it again.
func killRound(t *testing.T, c *Cluster, ref *HAProxy, watches map[string]*Proc, victim *Agent) killResult {
	t.Helper()
	r := killResult{victim: victim.Name, dns: -1, lb: -1, ref: -1}
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Rounds take about the same time, so without this the kills would
	// fall at about the same phase of the checks' timers every round.
	time.Sleep(rand.N(2 * time.Second)) // a random phase, not synchronisation
	start := time.Now()
	victim.Backend.Kill()
	for _, lb := range c.LBs {
		wg.Go(func() {
			how, err := waitStopped(lb.HAProxy, victim.Name, killTimeout)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", lb.Name, err)
				r.lbHow = append(r.lbHow, lb.Name+": not stopped")
				return
			}
			r.lb = max(r.lb, took)
			r.lbHow = append(r.lbHow, fmt.Sprintf("%s %.2f s %s", lb.Name, took.Seconds(), how))
		})
	}
	wg.Go(func() {
		if _, err := waitStopped(ref, victim.Name, killTimeout); err != nil {
			t.Errorf("reference haproxy: %v", err)
			return
		}
		took := time.Since(start)
		mu.Lock()
		r.ref = took
		mu.Unlock()
	})
	for _, a := range c.All() {
		wg.Go(func() {
			took, err := waitDNSGone(watches[a.Name], victim.IP, start, killTimeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s's DNS: %v", a.Name, err)
				r.dnsEach = append(r.dnsEach, a.Name+"=never")
				return
			}
			r.dns = max(r.dns, took)
			r.dnsEach = append(r.dnsEach, fmt.Sprintf("%s=%.2f", a.Name, took.Seconds()))
		})
	}
	wg.Wait()
	slices.Sort(r.dnsEach)
	slices.Sort(r.lbHow)
	r.critical = firstLogLine([]string{victim.Proc.Log}, start, `msg="check status changed"`, "to=critical")
	if t.Failed() {
		// A measurement timed out: every later round would too.
		t.Fatalf("stopping after a measurement timed out: %s", r)
	}
	victim.StartBackend()
	waitAllHealthy(t, c, ref, watches)
	return r
}

// startRefHAProxy starts haproxy on a host of its own with no agent, on a
// copy of the first lb's rendered file (every web server listed): the
// built-in template's servers and checks, with nothing but haproxy's own
// check to take a dead server out.
func startRefHAProxy(t *testing.T, c *Cluster) *HAProxy {
	t.Helper()
	h, err := c.Net.AddHost("ref", refIndex, c.hostDir("ref"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(c.LB.LBConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(h.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	hp, err := h.StartHAProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hp
}

// startDNSWatches runs `shoaltool dnswatch` for webName on every agent's
// host, against that host's agent: its log holds one line per change of
// the answers, with the time of the query.
func startDNSWatches(t *testing.T, c *Cluster) map[string]*Proc {
	t.Helper()
	watches := map[string]*Proc{}
	for _, a := range c.All() {
		ready := filepath.Join(a.Dir, "dnswatch.ready")
		p, err := a.Host.Start("dnswatch", nil, c.Bin.Tool, "dnswatch",
			"-server", fmt.Sprintf("127.0.0.1:%d", DNSPort), "-name", webName, "-interval", "20ms", "-ready", ready)
		if err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 30*time.Second, func() error {
			if p.Exited() {
				return fmt.Errorf("dnswatch on %s exited:\n%s", a.Name, p.Tail(10))
			}
			_, err := os.Stat(ready)
			return err
		})
		watches[a.Name] = p
	}
	return watches
}

// dnsChange is one line of a dnswatch log: from at on, the answers were
// ans ("-" for none, "error:..." for a failed query).
type dnsChange struct {
	at  time.Time
	ans string
}

func readDNSWatch(p *Proc) ([]dnsChange, error) {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return nil, fmt.Errorf("dnswatch log: %w", err)
	}
	var out []dnsChange
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		ns, ans, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			continue // not a change line (an error message)
		}
		out = append(out, dnsChange{at: time.Unix(0, n), ans: ans})
	}
	return out, nil
}

// waitDNSGone waits until the watch logged, after start, an answer without
// ip, and returns when that query was sent, counted from start.
func waitDNSGone(p *Proc, ip string, start time.Time, timeout time.Duration) (time.Duration, error) {
	var took time.Duration
	err := poll(timeout, func() error {
		changes, err := readDNSWatch(p)
		if err != nil {
			return err
		}
		last := "nothing"
		for _, ch := range changes {
			if !ch.at.After(start) {
				continue
			}
			last = ch.ans
			if !strings.HasPrefix(ch.ans, "error:") && !slices.Contains(strings.Split(ch.ans, ","), ip) {
				took = ch.at.Sub(start)
				return nil
			}
		}
		return fmt.Errorf("still answers %s (last change after the kill: %s)", ip, last)
	})
	return took, err
}

// waitAllHealthy waits until every agent's DNS answers every web host,
// every lb routes to all of them, and the reference haproxy runs them all
// up.
func waitAllHealthy(t *testing.T, c *Cluster, ref *HAProxy, watches map[string]*Proc) {
	t.Helper()
	var want []string
	for _, a := range c.Web {
		want = append(want, a.IP)
	}
	slices.Sort(want)
	WaitFor(t, 2*time.Minute, func() error {
		for _, a := range c.All() {
			changes, err := readDNSWatch(watches[a.Name])
			if err != nil {
				return err
			}
			if len(changes) == 0 || changes[len(changes)-1].ans != strings.Join(want, ",") {
				return fmt.Errorf("%s's DNS answers %v, want %s", a.Name, changes[max(0, len(changes)-1):], strings.Join(want, ","))
			}
		}
		for _, lb := range c.LBs {
			if err := serving(lb.HAProxy, lb.Name, c.WebNames()); err != nil {
				return err
			}
		}
		return serving(ref, "ref", c.WebNames())
	})
}

// killReport is the markdown table of the rounds: min, median, p90 and max
// of each measurement.
func killReport(rs []killResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nweb server killed, agent running: 3 web + 2 lb hosts, LAN timings, http check every 1s (timeout 500ms), %d rounds\n", len(rs))
	fmt.Fprintf(&b, "| time after the kill until | min | median | p90 | max | rounds (s) |\n|---|---|---|---|---|---|\n")
	rows := []struct {
		name string
		get  func(killResult) time.Duration
	}{
		{"the victim's agent marks its check critical", func(r killResult) time.Duration { return r.critical }},
		{"every agent's DNS stops answering it", func(r killResult) time.Duration { return r.dns }},
		{"every lb stops sending it new connections", func(r killResult) time.Duration { return r.lb }},
		{"haproxy's own check (inter 2s fall 3) marks it DOWN", func(r killResult) time.Duration { return r.ref }},
		{"(from the check's critical to every DNS and lb: shoal's share)", func(r killResult) time.Duration {
			if r.critical < 0 {
				return -1
			}
			return max(r.dns, r.lb) - r.critical
		}},
	}
	for _, row := range rows {
		var ds []time.Duration
		for _, r := range rs {
			if d := row.get(r); d >= 0 {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			fmt.Fprintf(&b, "| %s | not measured | | | | |\n", row.name)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.name,
			secs(slices.Min(ds)), secs(median(ds)), secs(percentile(ds, 90)), secs(slices.Max(ds)), secsList(ds))
	}
	return b.String()
}

// percentile is the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// fmtDur prints a duration in seconds, or "never" for -1.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
