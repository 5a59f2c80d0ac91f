//go:build linux

package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario 7: HTTP load through haproxy while members leave and rejoin
// until haproxy reloaded at least 20 times: zero failed requests. Every
// leaving host keeps its backend running, as a drained machine would, so a
// failure can only come from the reload itself.
func TestScenario_SeamlessReloadsUnderChurn(t *testing.T) {
	needShoal(t)
	const wantReloads = 20
	c := NewCluster(t, bins, Options{Web: 4, LBs: 1})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	base, err := c.LB.Reloads()
	if err != nil {
		t.Fatal(err)
	}
	load, err := c.LB.StartLoad("churn-load", bins.Tool, LBURL, "-c", "4", "-duration", "5m")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Minute)
	cycles := 0
	for {
		n, err := c.LB.Reloads()
		if err != nil {
			t.Fatal(err)
		}
		if n-base >= wantReloads {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d reloads after %d churn cycles, want %d", n-base, cycles, wantReloads)
		}
		// Alternate between h2 and h3 so the pool never drops below two;
		// not h1, the seed, which has no one to rejoin. SIGINT: leave
		// gracefully, then exit (DESIGN.md, Signals).
		a := c.Web[1+cycles%2]
		if err := a.Proc.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := a.Proc.Wait(30 * time.Second); err != nil && !a.Proc.Exited() {
			t.Fatal(err)
		}
		// Settled: haproxy reloaded onto each change before the next one,
		// so every cycle is two reloads, none coalesced.
		c.LB.WaitServers(30*time.Second, c.WebNames(a.Name))
		a.Start()
		c.LB.WaitServers(30*time.Second, c.WebNames())
		cycles++
	}
	r, err := load.Stop()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := c.LB.Reloads()
	t.Logf("%d churn cycles, %d reloads: %d requests ok, %d failed, answers %v", cycles, n-base, r.OK, r.Failed, r.Backends)
	if r.Failed > 0 || r.OK == 0 {
		t.Fatalf("got %d failed requests (of %d), want 0: %v", r.Failed, r.OK+r.Failed, r.Errors)
	}
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
