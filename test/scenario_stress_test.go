//go:build linux

package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scenario 7: HTTP load through haproxy while members leave and rejoin,
// 20 times each: every change reaches haproxy through its Runtime API,
// with no reload (the master's reload counter does not move), the file and
// haproxy's running servers agree after each change, and no request fails.
// Every leaving host keeps its backend running, as a drained machine
// would, so only haproxy's own state keeps requests off it.
func TestScenario_ChurnWithoutReloads(t *testing.T) {
	needShoal(t)
	const wantApplied = 40 // a leave and a rejoin per cycle
	c := NewCluster(t, bins, Options{Web: 4, LBs: 1})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	reloads, err := c.LB.Reloads()
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.LB.Template()
	if err != nil {
		t.Fatal(err)
	}
	var st RenderStatus
	cycles, r := churn(t, c, func() (bool, error) {
		var err error
		st, err = c.LB.Template()
		return st.Applied-base.Applied >= wantApplied, err
	})
	n, _ := c.LB.Reloads()
	t.Logf("%d churn cycles: %d installs, %d applied, %d reloads; %d requests ok, %d failed, answers %v",
		cycles, st.Installs-base.Installs, st.Applied-base.Applied, n-reloads, r.OK, r.Failed, r.Backends)
	if r.Failed > 0 || r.OK == 0 {
		t.Errorf("got %d failed requests (of %d), want 0: %v", r.Failed, r.OK+r.Failed, r.Errors)
	}
	if n != reloads || st.Reloads != base.Reloads || st.Installs-base.Installs != st.Applied-base.Applied {
		t.Errorf("got %d haproxy reloads, %d installs and %d applied, want every install applied and no reload",
			n-reloads, st.Installs-base.Installs, st.Applied-base.Applied)
	}
}

// Scenario 7b: the same churn with the runtime path off (no_runtime), until
// haproxy reloaded at least 20 times: the reloads themselves are seamless,
// zero failed requests.
func TestScenario_SeamlessReloadsUnderChurn(t *testing.T) {
	needShoal(t)
	const wantReloads = 20
	c := NewCluster(t, bins, Options{Web: 4, LBs: 1, LBHCL: LBTemplateWith("no_runtime = true")})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	base, err := c.LB.Reloads()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	cycles, r := churn(t, c, func() (bool, error) {
		var err error
		n, err = c.LB.Reloads()
		return n-base >= wantReloads, err
	})
	st, err := c.LB.Template()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d churn cycles, %d reloads, %d applied: %d requests ok, %d failed, answers %v", cycles, n-base, st.Applied, r.OK, r.Failed, r.Backends)
	if r.Failed > 0 || r.OK == 0 {
		t.Errorf("got %d failed requests (of %d), want 0: %v", r.Failed, r.OK+r.Failed, r.Errors)
	}
	if st.Applied != 0 {
		t.Errorf("with no_runtime: got %d changes applied through the Runtime API, want 0", st.Applied)
	}
}

// churn runs HTTP load through the lb while h2 and h3 take turns leaving
// (SIGINT: leave gracefully, then exit) and rejoining, until done says so,
// and returns the cycles run and the load's report. After each change it
// waits until the lb's file and its haproxy's running servers both have
// exactly the members alive, so no change coalesces with the next. The
// pool never drops below three; h1, the seed, has no one to rejoin.
func churn(t *testing.T, c *Cluster, done func() (bool, error)) (int, LoadResult) {
	t.Helper()
	load, err := c.LB.StartLoad("churn-load", bins.Tool, LBURL, "-c", "4", "-duration", "5m")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Minute)
	cycles := 0
	for {
		ok, err := done()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %d churn cycles in 4 minutes", cycles)
		}
		a := c.Web[1+cycles%2]
		if err := a.Leave(); err != nil {
			t.Fatal(err)
		}
		c.LB.WaitServers(30*time.Second, c.WebNames(a.Name))
		a.Start()
		c.LB.WaitServers(30*time.Second, c.WebNames())
		cycles++
	}
	r, err := load.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return cycles, r
}

// Scenario 8: a bounded flood of random bytes at one agent's gossip and DNS
// ports (UDP and TCP) from a host outside the cluster: the agent keeps
// answering and stays in the cluster, on the shipped gossip timings (as
// scenario 4, the claim is about what users run).
func TestScenario_GarbageOnTheWire(t *testing.T) {
	needShoal(t)
	dur := 5 * time.Second
	if long() {
		dur = 30 * time.Second
	}
	c := NewCluster(t, bins, Options{Web: 3, LBs: 0, Attacker: true, Gossip: DefaultGossip})
	c.WaitConverged(60 * time.Second)
	target := c.Web[0]
	gossip := fmt.Sprintf("%s:%d", target.IP, GossipPort)
	dns := fmt.Sprintf("%s:%d", target.IP, DNSPort)
	flood, err := c.Attacker.Start("flood", nil, bins.Tool, "flood", "-udp", gossip+","+dns, "-tcp", gossip+","+dns,
		"-duration", dur.String(), "-rate", "500")
	if err != nil {
		t.Fatal(err)
	}
	// While the flood runs the agent must keep answering its API and DNS.
	answers := 0
	for !flood.Exited() {
		if _, err := target.Members(); err != nil {
			t.Fatalf("API under flood: %v", err)
		}
		if _, err := target.Dig("web.service.shoal", "A"); err == nil {
			answers++
		}
	}
	if err := flood.Wait(30 * time.Second); err != nil {
		t.Fatalf("flood: %v\n%s", err, flood.Tail(5))
	}
	var sent struct{ Datagrams, Conns int }
	if err := json.Unmarshal([]byte(flood.Tail(1)), &sent); err != nil {
		t.Fatalf("flood report %q: %v", flood.Tail(1), err)
	}
	if answers < 3 {
		t.Fatalf("DNS answered %d times during the %s flood, want at least 3", answers, dur)
	}
	if sent.Datagrams == 0 || sent.Conns == 0 {
		t.Fatalf("flood sent %+v, want datagrams and connections", sent)
	}
	t.Logf("flooded %s for %s: %d datagrams, %d connections", target.Name, dur, sent.Datagrams, sent.Conns)
	if target.Proc.Exited() {
		t.Fatalf("agent exited under the flood:\n%s", target.Proc.Tail(30))
	}
	c.WaitConverged(30 * time.Second)
	if _, err := target.Dig("web.service.shoal", "A"); err != nil {
		t.Fatalf("DNS after the flood: %v", err)
	}
	if f := memberFailed(c.All()); len(f) > 0 {
		t.Fatalf("the flood got members marked failed: %s", strings.Join(f, "; "))
	}
}
