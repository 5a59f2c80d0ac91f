package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

func TestNode_FiveJoin(t *testing.T) {
	nodes := startCluster(t, "join", 5, nil)
	for _, n := range nodes {
		if got := n.Stats().Alive; got != 5 {
			t.Errorf("%s: got %d alive, want 5", n.Name(), got)
		}
		snap := n.Snapshot()
		for i := 1; i < len(snap.Members); i++ {
			if snap.Members[i-1].Name >= snap.Members[i].Name {
				t.Errorf("%s: snapshot not sorted: %s before %s", n.Name(), snap.Members[i-1].Name, snap.Members[i].Name)
			}
		}
	}
}

func TestNode_CrashIsFailedThenReaped(t *testing.T) {
	nodes := startCluster(t, "crash", 3, func(c *Config) { c.ReconnectTimeout = 2 * time.Second })
	victim := nodes[2]
	victim.Shutdown() // a crash: no leave intent
	waitStatus(t, nodes[:2], StatusFailed, victim.Name())
	for _, n := range nodes[:2] {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventMemberFailed })
		if got := ev.(*MemberEvent).Members[0].Name; got != victim.Name() {
			t.Errorf("%s: failed event for %s, want %s", n.Name(), got, victim.Name())
		}
		nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventMemberReap })
		if _, ok := n.Snapshot().Get(victim.Name()); ok {
			t.Errorf("%s: %s still listed after reap", n.Name(), victim.Name())
		}
	}
}

func TestNode_GracefulLeaveIsLeft(t *testing.T) {
	nodes := startCluster(t, "leave", 3, nil)
	leaver := nodes[1]
	if err := leaver.Leave(); err != nil {
		t.Fatalf("leave: %v", err)
	}
	leaver.Shutdown()
	waitStatus(t, []*testNode{nodes[0], nodes[2]}, StatusLeft, leaver.Name())
	for _, n := range []*testNode{nodes[0], nodes[2]} {
		nextEvent(t, n, 30*time.Second, func(e Event) bool {
			if e.EventType() == EventMemberFailed {
				t.Errorf("%s: graceful leave reported as a failure", n.Name())
			}
			return e.EventType() == EventMemberLeave
		})
	}
}

// A leaving node tells each peer directly, besides gossiping: with gossip,
// probes and push/pull all stalled (an hour apart), the peers still see it
// leaving, so a leave cannot lose the race with memberlist's own notice and
// read as a failure. Each node joins every earlier one, so all know all
// from the joins' own state exchanges.
func TestNode_LeaveIntentReachesPeersWithoutGossip(t *testing.T) {
	nodes := stalledGossipCluster(t, "direct", 3, func(c *Config) { c.LeaveTimeout = 200 * time.Millisecond })
	leaver := nodes[1]
	// With gossip stalled memberlist's own leave notice never goes out, and
	// Leave says so; what matters is what the peers heard.
	if err := leaver.Leave(); err != nil && !strings.Contains(err.Error(), "timeout waiting for leave broadcast") {
		t.Fatalf("leave: %v", err)
	}
	for _, o := range []*testNode{nodes[0], nodes[2]} {
		testutil.WaitFor(t, 30*time.Second, func() error {
			m, ok := o.Snapshot().Get(leaver.Name())
			if !ok || (m.Status != StatusLeaving && m.Status != StatusLeft) {
				return fmt.Errorf("%s sees %s %v, want leaving or left", o.Name(), leaver.Name(), m.Status)
			}
			return nil
		})
	}
}

func TestNode_ForceLeaveAndPrune(t *testing.T) {
	nodes := startCluster(t, "force", 3, nil)
	nodes[2].Shutdown()
	waitStatus(t, nodes[:2], StatusFailed, nodes[2].Name())
	if err := nodes[0].ForceLeave(nodes[2].Name(), false); err != nil {
		t.Fatalf("force-leave: %v", err)
	}
	waitStatus(t, nodes[:2], StatusLeft, nodes[2].Name())
	if err := nodes[0].ForceLeave(nodes[2].Name(), true); err != nil {
		t.Fatalf("force-leave -prune: %v", err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes[:2] {
			if m, ok := n.Snapshot().Get(nodes[2].Name()); ok {
				return fmt.Errorf("%s still lists %s as %s", n.Name(), m.Name, m.Status)
			}
		}
		return nil
	})
	if err := nodes[0].ForceLeave("nobody", false); err == nil || !strings.Contains(err.Error(), "no such member") {
		t.Errorf("force-leave of an unknown member: got %v, want a 'no such member' error", err)
	}
}

func TestNode_TagUpdateReachesAll(t *testing.T) {
	nodes := startCluster(t, "tags", 3, nil)
	changed, cancel := nodes[1].Watch()
	defer cancel()
	if err := nodes[0].SetTags(map[string]string{"role": "lb", "dc": "east"}); err != nil {
		t.Fatalf("set tags: %v", err)
	}
	svc := []Service{{Name: "web", Port: 8080, Tags: []string{"v2"}, Weight: 10}}
	if err := nodes[0].SetServices(svc); err != nil {
		t.Fatalf("set services: %v", err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes {
			m, _ := n.Snapshot().Get(nodes[0].Name())
			if m.Tags["role"] != "lb" || m.Tags["dc"] != "east" {
				return fmt.Errorf("%s sees tags %v", n.Name(), m.Tags)
			}
			if s, ok := m.Service("web"); !ok || s.Port != 8080 || s.Weight != 10 || !s.HasTag("v2") {
				return fmt.Errorf("%s sees services %+v", n.Name(), m.Services)
			}
		}
		return nil
	})
	select {
	case <-changed:
	default:
		t.Error("watch channel was not signalled by the tag update")
	}
	ev := nextEvent(t, nodes[2], 30*time.Second, func(e Event) bool { return e.EventType() == EventMemberUpdate })
	if got := ev.(*MemberEvent).Members[0].Name; got != nodes[0].Name() {
		t.Errorf("update event for %s, want %s", got, nodes[0].Name())
	}
}

func TestNode_OversizeTagsRefused(t *testing.T) {
	n := startNode(t, testConfig("big"))
	if err := n.SetTags(map[string]string{"role": "web"}); err != nil {
		t.Fatal(err)
	}
	big := map[string]string{"blob": strings.Repeat("x", 600)}
	err := n.SetTags(big)
	if err == nil || !strings.Contains(err.Error(), "over memberlist's 512-byte") {
		t.Fatalf("got %v, want an error naming the 512-byte limit", err)
	}
	if !strings.Contains(err.Error(), "bytes, ") {
		t.Errorf("error %q does not say by how many bytes", err)
	}
	if got := n.Tags()["role"]; got != "web" {
		t.Errorf("tags after refused update: role=%q, want web", got)
	}
	cfg := testConfig("big2")
	cfg.Tags = big
	if _, err := New(cfg, nil); err == nil {
		t.Error("New accepted oversize tags")
	}
}

func TestNode_NameConflictReported(t *testing.T) {
	nodes := startCluster(t, "conf", 2, nil)
	original := nodes[1].addr()
	dup := startNode(t, testConfig(nodes[1].Name()))
	dup.Join([]string{nodes[0].addr()}, false) // may fail; the conflict is what matters
	testutil.WaitFor(t, 30*time.Second, func() error {
		if c := nodes[0].Stats().NameConflicts + nodes[1].Stats().NameConflicts; c == 0 {
			return fmt.Errorf("no name conflict reported yet")
		}
		return nil
	})
	m, _ := nodes[0].Snapshot().Get(nodes[1].Name())
	if got := fmt.Sprintf("%s:%d", m.Addr, m.Port); got != original {
		t.Errorf("conflicting member merged: %s now at %s, want %s", m.Name, got, original)
	}
	if !strings.Contains(nodes[0].logs.String()+nodes[1].logs.String(), "node name conflict") {
		t.Error("no log line reports the name conflict")
	}
}

func TestNode_LabelKeepsClustersApart(t *testing.T) {
	a := startNode(t, func() Config { c := testConfig("lbl-a"); c.Label = "blue"; return c }())
	b := startNode(t, func() Config { c := testConfig("lbl-b"); c.Label = "green"; return c }())
	if _, err := b.Join([]string{a.addr()}, false); err == nil {
		t.Fatal("node with another gossip label joined")
	}
	c := startNode(t, func() Config { c := testConfig("lbl-c"); c.Label = "blue"; return c }())
	if _, err := c.Join([]string{a.addr()}, false); err != nil {
		t.Fatalf("node with the same label: %v", err)
	}
}

func TestNode_TombstoneIgnoresStaleJoinIntent(t *testing.T) {
	nodes := startCluster(t, "tomb", 2, nil)
	leaver := nodes[1]
	if err := leaver.Leave(); err != nil {
		t.Fatal(err)
	}
	leaver.Shutdown()
	waitStatus(t, nodes[:1], StatusLeft, leaver.Name())
	m, _ := nodes[0].Snapshot().Get(leaver.Name())
	// Late gossip from before the leave must not bring it back.
	if nodes[0].handleJoinIntent(&joinIntent{LTime: 1, Node: leaver.Name()}) {
		t.Error("stale join intent accepted for a left member")
	}
	if got, _ := nodes[0].Snapshot().Get(leaver.Name()); got.Status != StatusLeft {
		t.Errorf("after stale intent: %s is %s, want left (was %s)", got.Name, got.Status, m.Status)
	}
}

func TestNode_RunLeavesOnCancel(t *testing.T) {
	nodes := startCluster(t, "run", 1, nil)
	n, err := New(testConfig("run-x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if ip, _ := n.LocalAddr(); ip == nil {
			return fmt.Errorf("not started")
		}
		return nil
	})
	ip, port := n.LocalAddr()
	if _, err := n.Join([]string{fmt.Sprintf("%s:%d", ip, port), nodes[0].addr()}, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, nodes, StatusAlive, "run-x")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	waitStatus(t, nodes, StatusLeft, "run-x")
}
