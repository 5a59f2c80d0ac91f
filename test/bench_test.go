//go:build linux

package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchTable measures the numbers of README's Performance section and
// prints one table. It runs only with SHOAL_BENCH=1 (test/bench.sh), since
// it takes minutes; every row is a real multi-process cluster in
// namespaces, agents on FastGossip timings.
func TestBenchTable(t *testing.T) {
	if os.Getenv("SHOAL_BENCH") != "1" {
		t.Skip("skipping: set SHOAL_BENCH=1 (or run test/bench.sh) for the benchmark table")
	}
	needShoal(t)
	var rows [][2]string
	add := func(name, value string) { rows = append(rows, [2]string{name, value}) }

	for _, n := range []int{5, 10, 20} {
		t.Run(fmt.Sprintf("join%d", n), func(t *testing.T) {
			start := time.Now()
			c := NewCluster(t, bins, Options{Web: n})
			c.WaitConverged(3 * time.Minute)
			add(fmt.Sprintf("start + join convergence, %d agents", n), time.Since(start).Round(time.Millisecond).String())
			if n != 5 {
				return
			}
			add("idle RSS per agent (5 agents, median)", idleRSS(t, c))
			d := c.fire(c.Web[0], "bench", "x", time.Minute)
			add("user event reaching every node (5 agents)", d.Round(time.Millisecond).String())
			add("DNS QPS (dnsperf, 10 s, one agent)", dnsQPS(t, c.Web[1]))
			victim := c.Web[4]
			if err := victim.Proc.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			d = c.WaitStatus(c.Except(victim.Name), []string{victim.Name}, "failed", time.Minute)
			add("SIGKILL to every node marking it failed (5 agents)", d.Round(time.Millisecond).String())
		})
	}
	// A killed backend's agent: the lb's haproxy stops routing to it once
	// shoal applied the change through haproxy's Runtime API (the victim's
	// backend keeps running, so nothing else would stop it).
	t.Run("lbStopsRouting", func(t *testing.T) {
		c := NewCluster(t, bins, Options{Web: 5, LBs: 1})
		c.WaitConverged(time.Minute)
		c.LB.WaitServers(30*time.Second, c.WebNames())
		before, err := c.LB.Template()
		if err != nil {
			t.Fatal(err)
		}
		victim := c.Web[4]
		start := time.Now()
		if err := victim.Proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, time.Minute, func() error { return c.LB.CheckRouted(c.WebNames(victim.Name)) })
		d := time.Since(start)
		st, err := c.LB.Template()
		if err != nil {
			t.Fatal(err)
		}
		if st.Applied <= before.Applied || st.Reloads != before.Reloads {
			t.Fatalf("applied %d, reloads %d; want more than %d applied and %d reloads: the change did not go through the Runtime API",
				st.Applied, st.Reloads, before.Applied, before.Reloads)
		}
		add("SIGKILL until the lb's haproxy stops routing to it, via the Runtime API (5 agents)", d.Round(time.Millisecond).String())
	})

	var b strings.Builder
	fmt.Fprintf(&b, "\n| measurement | value |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	fmt.Print(b.String() + "\n")
}

// idleRSS waits a few gossip rounds and returns the median VmRSS of the
// agents.
func idleRSS(t *testing.T, c *Cluster) string {
	// Idle means a few push/pull rounds after convergence: wait on the
	// clock on purpose here, this is a measurement, not synchronisation.
	time.Sleep(5 * time.Second)
	var kb []int
	for _, a := range c.All() {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(a.Proc.Pid()), "status"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("no VmRSS for %s", a.Name)
		}
		v, _ := strconv.Atoi(string(m[1]))
		kb = append(kb, v)
	}
	slices.Sort(kb)
	return fmt.Sprintf("%.1f MiB", float64(kb[len(kb)/2])/1024)
}

// dnsQPS runs dnsperf on a's host against its agent.
func dnsQPS(t *testing.T, a *Agent) string {
	q := filepath.Join(a.Dir, "queries.txt")
	body := "web.service.shoal A\nweb.service.shoal SRV\nh1.node.shoal A\nnope.service.shoal A\n"
	if err := os.WriteFile(q, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.Exec(ctx, nil, "dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(DNSPort), "-d", q, "-l", "10", "-c", "4", "-Q", "200000")
	if err != nil {
		return fmt.Sprintf("n/a (%v)", err)
	}
	m := regexp.MustCompile(`Queries per second:\s+([\d.]+)`).FindStringSubmatch(out)
	if m == nil {
		return "n/a (no QPS in dnsperf output)"
	}
	qps, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return fmt.Sprintf("n/a (%v)", err)
	}
	return fmt.Sprintf("%.0f", qps)
}
