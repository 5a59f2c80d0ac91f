package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// stalledGossipCluster starts count nodes with gossip, probes and push/pull
// an hour apart, each joining every earlier one, so all know all from the
// joins' own state exchanges and nothing but a direct packet moves.
func stalledGossipCluster(t *testing.T, prefix string, count int, tweak func(*Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	var addrs []string
	for i := range count {
		cfg := testConfig(fmt.Sprintf("%s%d", prefix, i))
		cfg.CoalescePeriod = 0
		cfg.Memberlist.GossipInterval = time.Hour
		cfg.Memberlist.ProbeInterval = time.Hour
		cfg.Memberlist.PushPullInterval = time.Hour
		if tweak != nil {
			tweak(&cfg)
		}
		n := startNode(t, cfg)
		if len(addrs) > 0 {
			if _, err := n.Join(addrs, false); err != nil {
				t.Fatalf("join %s: %v", cfg.Name, err)
			}
		}
		nodes, addrs = append(nodes, n), append(addrs, n.addr())
	}
	waitStatus(t, nodes, StatusAlive, namesOf(nodes)...)
	return nodes
}

// A user event reaches peers without a gossip tick: with gossip stalled,
// the sender's eager push (to GossipNodes peers, here all three) delivers
// it, and so does a peer's push of an event it heard first.
func TestNode_UserEventPushedWithoutGossip(t *testing.T) {
	nodes := stalledGossipCluster(t, "push", 4, nil)
	if err := nodes[0].UserEvent("deploy", []byte("v1"), false); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser }).(*UserEvent)
		if ev.Name != "deploy" || string(ev.Payload) != "v1" {
			t.Fatalf("%s got %s %q, want deploy v1", n.Name(), ev.Name, ev.Payload)
		}
	}
	if got := nodes[0].Stats().EventPushes; got != 1 {
		t.Errorf("sender pushed %d times, want 1", got)
	}
	// Each peer heard it for the first time and pushed it on, once: the
	// copies it got back from the others were duplicates.
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes[1:] {
			if got := n.Stats().EventPushes; got != 1 {
				return fmt.Errorf("%s pushed %d times, want 1", n.Name(), got)
			}
		}
		return nil
	})
}

// Past the rate limit events go by gossip alone, and still arrive.
func TestNode_UserEventPushIsRateLimited(t *testing.T) {
	nodes := startCluster(t, "pushrate", 3, func(c *Config) {
		c.CoalescePeriod = 0
		c.EventPushRate = 2
	})
	const count = 8
	for i := range count {
		if err := nodes[0].UserEvent("burst", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		seen := map[string]bool{}
		for len(seen) < count {
			ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser }).(*UserEvent)
			seen[string(ev.Payload)] = true
		}
	}
	// A burst of 2, plus what refilled while the loop ran (at 2 a
	// second); far from one push per event.
	if got := nodes[0].Stats().EventPushes; got < 1 || got >= count {
		t.Errorf("sender pushed %d of %d events, want the burst of 2 and refills only", got, count)
	}
}

func TestEagerPusher_Bucket(t *testing.T) {
	p := newEagerPusher(2)
	t0 := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false} {
		if got := p.allow(t0); got != want {
			t.Fatalf("take %d at t0: %v, want %v", i, got, want)
		}
	}
	if !p.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("one token refills in half a second at 2/s")
	}
	if p.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("only one token refilled")
	}
	// A long idle spell refills to the burst, not beyond.
	later := t0.Add(time.Hour)
	for i, want := range []bool{true, true, false} {
		if got := p.allow(later); got != want {
			t.Fatalf("take %d after an hour: %v, want %v", i, got, want)
		}
	}
	if off := newEagerPusher(0); off.allow(t0) {
		t.Fatal("rate 0 must turn eager push off")
	}
}

// A node that joined without replay delivers new events from a member whose
// Lamport clock runs behind: each join's state exchange moves the clocks of
// the two sides past each other's, so the last of several joiners saw a
// higher clock than the first node has. It used to refuse every event up to
// that clock and lost the first node's next events. Gossip runs; only
// eager push is off, so gossip alone must carry the event.
func TestNode_JoinerDeliversEventsFromSlowerClock(t *testing.T) {
	nodes := stalledGossipCluster(t, "slowclock", 4, func(c *Config) {
		c.EventPushRate = 0
		c.Memberlist.GossipInterval = 20 * time.Millisecond
	})
	first, last := nodes[0], nodes[len(nodes)-1]
	if f, l := first.eventClock.Time(), last.eventClock.Time(); f >= l {
		t.Logf("the first node's clock (%d) is not behind the last joiner's (%d); the test shows less", f, l)
	}
	if err := first.UserEvent("from-first", nil, false); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser }).(*UserEvent)
		if ev.Name != "from-first" {
			t.Fatalf("%s got %s, want from-first", n.Name(), ev.Name)
		}
	}
}
