package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fire sends a user event from a and waits until every agent in c ran its
// handler for it exactly once; it returns how long that took.
func (c *Cluster) fire(a *Agent, name, payload string, timeout time.Duration) time.Duration {
	c.T.Helper()
	start := time.Now()
	if _, err := a.Shoal(context.Background(), "event", name, payload); err != nil {
		c.T.Fatal(err)
	}
	WaitFor(c.T, timeout, func() error { return checkOnce(c.All(), name) })
	return time.Since(start)
}

// checkOnce returns nil when every agent ran its handler for user event
// name exactly once.
func checkOnce(agents []*Agent, name string) error {
	for _, a := range agents {
		if n := len(a.UserEvents(name)); n != 1 {
			return fmt.Errorf("%s ran its handler for %q %d times, want 1", a.Name, name, n)
		}
	}
	return nil
}

// memberFailed returns the agents whose handler saw a member-failed event.
func memberFailed(agents []*Agent) []string {
	var out []string
	for _, a := range agents {
		for _, l := range a.Events() {
			if strings.HasPrefix(l, "member-failed") {
				out = append(out, a.Name+": "+l)
			}
		}
	}
	return out
}

// Scenario 4: 20% loss on every link: no member is marked failed, and a
// user event still reaches every node. 60 s with SHOAL_TEST_LONG=1, 15 s
// otherwise.
func TestScenario_PacketLoss(t *testing.T) {
	needShoal(t)
	window := 15 * time.Second
	if long() {
		window = 60 * time.Second
	}
	c := NewCluster(t, bins, Options{Web: 5})
	c.WaitConverged(60 * time.Second)
	for _, h := range c.Net.Hosts() {
		if err := h.SetLoss(20); err != nil {
			t.Fatal(err)
		}
	}
	// Watch the whole window: every poll must see everyone alive.
	end := time.Now().Add(window)
	polls := 0
	for time.Now().Before(end) {
		if err := CheckStatus(c.All(), c.Names(), "alive"); err != nil {
			t.Fatalf("under 20%% loss after %d polls: %v", polls, err)
		}
		polls++
	}
	d := c.fire(c.Web[0], "lossy", "x", 30*time.Second)
	t.Logf("%s of 20%% loss, %d membership polls all alive; event reached every node in %s", window, polls, d)
	if f := memberFailed(c.All()); len(f) > 0 {
		t.Fatalf("members were marked failed under loss: %v", f)
	}
}

// Scenario 5: an agent restarted with its snapshot rejoins without -join
// and replays no old events.
func TestScenario_SnapshotRejoin(t *testing.T) {
	needShoal(t)
	c := NewCluster(t, bins, Options{Web: 3, LBs: 0, Snapshot: true})
	c.WaitConverged(60 * time.Second)
	c.fire(c.Web[0], "before", "1", 30*time.Second)

	a := c.Web[2]
	if err := a.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.Proc.Wait(30 * time.Second); err != nil && !a.Proc.Exited() {
		t.Fatal(err)
	}
	a.StartWith() // no -join, no -retry-join: the snapshot is all it has
	d := c.WaitConverged(60 * time.Second)
	t.Logf("%s rejoined from its snapshot in %s", a.Name, d)
	// Others reconnect to failed members too; the log shows that the
	// restarted agent itself used its snapshot.
	WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(a.Proc.Tail(1000), "rejoined from snapshot") {
			return fmt.Errorf("%s's log does not say it rejoined from its snapshot", a.Name)
		}
		return nil
	})

	// The sentinel: once "after" arrived, a replay of "before" would have
	// arrived too (same sender, lower Lamport time).
	c.fire(c.Web[0], "after", "2", 30*time.Second)
	if err := checkOnce(c.All(), "before"); err != nil {
		t.Fatalf("old event replayed after restart: %v\n%s", err, strings.Join(a.Events(), "\n"))
	}
}

// Scenario 6: `shoal event reload` reloads haproxy on every lb once, and
// `shoal query config-hash` gives the same hash from every lb.
func TestScenario_ReloadEventAndConfigHash(t *testing.T) {
	needShoal(t)
	c := NewCluster(t, bins, Options{Web: 3, LBs: 2})
	c.WaitConverged(60 * time.Second)
	for _, lb := range c.LBs {
		WaitFor(t, 20*time.Second, func() error { return lb.CheckServers(c.WebNames()) })
	}
	reloads := func() map[string]int {
		m := map[string]int{}
		for _, lb := range c.LBs {
			n, err := lb.Reloads()
			if err != nil {
				t.Fatal(err)
			}
			m[lb.Name] = n
		}
		return m
	}
	// Renders settle first: counters stable across a config-hash query.
	base := reloads()
	for round := 1; round <= 2; round++ {
		if _, err := c.Web[0].Shoal(context.Background(), "event", "reload"); err != nil {
			t.Fatal(err)
		}
		// Round 2 is the sentinel for round 1: had round 1 reloaded twice,
		// a counter would be past base+2 after round 2.
		WaitFor(t, 30*time.Second, func() error {
			for name, n := range reloads() {
				if n != base[name]+round {
					return fmt.Errorf("%s reloaded %d times after %d reload events, want %d", name, n-base[name], round, round)
				}
			}
			return nil
		})
	}

	out, err := c.Web[0].Shoal(context.Background(), "query", "-format", "json", "-timeout", "5s", "config-hash")
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var q struct{ Type, From, Payload string }
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatalf("query line %q: %v", l, err)
		}
		if q.Type == "response" {
			hashes[q.From] = strings.TrimSpace(q.Payload)
		}
	}
	first := hashes[c.LBs[0].Name]
	for _, lb := range c.LBs {
		if hashes[lb.Name] == "" || hashes[lb.Name] != first {
			t.Fatalf("config-hash answers %v, want one same non-empty hash from every lb", hashes)
		}
	}
	t.Logf("config-hash answers: %v", hashes)
}
