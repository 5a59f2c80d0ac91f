package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// The line shoal reads suspicion from must be the one memberlist logs: a
// memberlist upgrade that rewords it fails here, not silently in
// production.
func TestParseSuspectLine_MatchesMemberlistSource(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/hashicorp/memberlist").Output()
	if err != nil {
		t.Fatalf("go list memberlist: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "state.go"))
	if err != nil {
		t.Fatal(err)
	}
	call := fmt.Sprintf("m.logger.Printf(%q, node.Name)", memberlistSuspectFormat)
	if !strings.Contains(string(src), call) {
		t.Fatalf("memberlist's state.go has no %s: the prober's suspicion line changed", call)
	}

	for _, tc := range []struct {
		line string
		name string
		ok   bool
	}{
		{fmt.Sprintf(memberlistSuspectFormat, "web-1"), "web-1", true},
		{fmt.Sprintf(memberlistSuspectFormat, "web-1") + "\n", "web-1", true},
		{fmt.Sprintf(memberlistSuspectFormat, "two words"), "", false},
		{fmt.Sprintf(memberlistSuspectFormat, ""), "", false},
		{"[INFO] memberlist: Marking web-1 as failed, suspect timeout reached (0 peer confirmations)", "", false},
		{"[WARN] memberlist: Refuting a suspect message (from: web-1)", "", false},
	} {
		name, ok := parseSuspectLine(tc.line)
		if ok != tc.ok || (ok && name != tc.name) {
			t.Errorf("parseSuspectLine(%q) = %q, %t; want %q, %t", tc.line, name, ok, tc.name, tc.ok)
		}
	}
}

func TestCodec_SuspicionRoundTrip(t *testing.T) {
	for _, in := range []suspicionMsg{{LTime: 9, Node: "a", From: "b"}, {LTime: 1 << 40, Node: "web-1", From: "lb", Alive: true}} {
		buf := encodeMessage(msgSuspicion, &in)
		var out suspicionMsg
		if err := decodeMessage(buf[1:], &out); err != nil || !reflect.DeepEqual(in, out) {
			t.Errorf("round trip: got %+v (%v), want %+v", out, err, in)
		}
		for i := 1; i < len(buf)-1; i++ {
			if err := decodeMessage(buf[1:i], &out); err == nil {
				t.Errorf("%d of %d bytes decoded without error", i-1, len(buf)-1)
			}
		}
	}
}

func TestSuspicionBound_MemberlistTimeout(t *testing.T) {
	lan := memberlist.DefaultLANConfig() // probe 1s, suspicion mult 4, max mult 6
	for _, tc := range []struct {
		members int
		want    time.Duration
	}{
		{1, 25 * time.Second},   // 6 * 4 * 1 * 1s + 1s
		{5, 25 * time.Second},   // log10(5) < 1 counts as 1
		{100, 49 * time.Second}, // 6 * 4 * 2 * 1s + 1s
	} {
		if got := suspicionBound(lan, tc.members); got != tc.want {
			t.Errorf("LAN, %d members: got %s, want %s", tc.members, got, tc.want)
		}
	}
}

// suspicionNode is a node that is never started, with members a and b
// alive, to drive the suspicion state machine directly.
func suspicionNode(t *testing.T) *Node {
	t.Helper()
	n, err := New(testConfig("self"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.mlConfig = n.cfg.memberlistConfig()
	for _, name := range []string{"self", "a", "b"} {
		n.members[name] = &memberState{Member: Member{Name: name, Status: StatusAlive}}
	}
	return n
}

// statusOf is name's status in the snapshot, StatusNone if it is not there.
func (n *Node) statusOf(name string) Status {
	m, _ := n.Snapshot().Get(name)
	return m.Status
}

func TestSuspicion_NoticesOrderedByLamportTime(t *testing.T) {
	n := suspicionNode(t)
	now := time.Now()
	probe := n.mlConfig.ProbeInterval
	step := func(what string, msg suspicionMsg, at time.Time, wantNews, wantRefute bool, want Status) {
		t.Helper()
		news, refute := n.applySuspicion(&msg, at)
		if news != wantNews || refute != wantRefute {
			t.Errorf("%s: news %t refute %t, want %t %t", what, news, refute, wantNews, wantRefute)
		}
		if got := n.statusOf(msg.Node); got != want {
			t.Errorf("%s: %s is %s, want %s", what, msg.Node, got, want)
		}
	}
	step("first suspicion", suspicionMsg{LTime: 5, Node: "a", From: "b"}, now, true, false, StatusSuspect)
	step("same notice again", suspicionMsg{LTime: 5, Node: "a", From: "b"}, now, false, false, StatusSuspect)
	step("another prober agrees", suspicionMsg{LTime: 6, Node: "a", From: "self"}, now, true, false, StatusSuspect)
	step("alive, but older than the suspicion", suspicionMsg{LTime: 4, Node: "a", From: "b", Alive: true}, now, true, false, StatusSuspect)
	step("alive after the suspicion", suspicionMsg{LTime: 8, Node: "a", From: "b", Alive: true}, now, true, false, StatusAlive)
	step("late copy of the old suspicion", suspicionMsg{LTime: 7, Node: "a", From: "b"}, now, false, false, StatusAlive)
	step("new suspicion within a probe interval", suspicionMsg{LTime: 9, Node: "a", From: "b"}, now.Add(probe/2), true, false, StatusAlive)
	step("new suspicion a probe interval later", suspicionMsg{LTime: 10, Node: "a", From: "b"}, now.Add(probe), true, false, StatusSuspect)
	if got := n.clock.Time(); got <= 10 {
		t.Errorf("clock %d: the notices were not witnessed", got)
	}

	// Expiry: not a moment before the bound, then alive again.
	until := now.Add(probe).Add(suspicionBound(n.mlConfig, 3))
	if next, ok := n.nextSuspicionExpiry(); !ok || !next.Equal(until) {
		t.Fatalf("next expiry %s %t, want %s", next, ok, until)
	}
	n.expireSuspicions(until.Add(-time.Nanosecond))
	if got := n.statusOf("a"); got != StatusSuspect {
		t.Fatalf("before the bound: a is %s, want suspect", got)
	}
	n.expireSuspicions(until)
	if got := n.statusOf("a"); got != StatusAlive {
		t.Fatalf("at the bound: a is %s, want alive", got)
	}
	if _, ok := n.nextSuspicionExpiry(); ok {
		t.Error("an expiry is still pending")
	}

	step("a suspicion of this node is refuted, never held", suspicionMsg{LTime: 20, Node: "self", From: "a"}, now, false, true, StatusAlive)
	step("the same suspicion again needs no second refutation", suspicionMsg{LTime: 20, Node: "self", From: "a"}, now, false, false, StatusAlive)
	step("unknown member", suspicionMsg{LTime: 30, Node: "ghost", From: "a"}, now, false, false, StatusNone)
}

func TestSuspicion_FailedOrLeavingIsNotSuspected(t *testing.T) {
	n := suspicionNode(t)
	n.members["a"].Status = StatusFailed
	n.members["b"].Status = StatusLeaving
	for _, name := range []string{"a", "b"} {
		if news, _ := n.applySuspicion(&suspicionMsg{LTime: 3, Node: name, From: "self"}, time.Now()); news {
			t.Errorf("suspicion of %s: news, want none", name)
		}
	}
	if s := n.members["a"].Status; s != StatusFailed {
		t.Errorf("a is %s, want failed", s)
	}
}

// statusHistory is the sequence of statuses one observer gave a member,
// each change once, recorded from the observer's Watch signal.
type statusHistory struct {
	mu   sync.Mutex
	seen []Status
}

func (h *statusHistory) add(s Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 || h.seen[len(h.seen)-1] != s {
		h.seen = append(h.seen, s)
	}
}

func (h *statusHistory) get() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen)
}

func watchStatus(t *testing.T, n *testNode, name string) *statusHistory {
	h := &statusHistory{}
	ch, cancel := n.Watch()
	done, stopped := make(chan struct{}), make(chan struct{})
	record := func() {
		m, _ := n.Snapshot().Get(name)
		h.add(m.Status)
	}
	record()
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-ch:
				record()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		close(done)
		<-stopped
	})
	return h
}

// startCutCluster starts count nodes; the last one's network can be cut.
func startCutCluster(t *testing.T, prefix string, count int, tweak func(*Config)) ([]*testNode, *cuttableTransport) {
	tr := newCuttableTransport(t)
	victim := fmt.Sprintf("%s%d", prefix, count-1)
	nodes := startCluster(t, prefix, count, func(c *Config) {
		if tweak != nil {
			tweak(c)
		}
		if c.Name == victim {
			c.Memberlist.Transport = tr
		}
	})
	return nodes, tr
}

// A member cut off the network is suspect on every other node before it is
// failed: the prober's suspicion is gossiped, not kept to itself.
func TestNode_CutMemberIsSuspectThenFailed(t *testing.T) {
	nodes, cut := startCutCluster(t, "cut", 4, nil)
	victim, observers := nodes[3], nodes[:3]
	var hist []*statusHistory
	for _, o := range observers {
		hist = append(hist, watchStatus(t, o, victim.Name()))
	}
	cut.setCut(true)
	waitStatus(t, observers, StatusFailed, victim.Name())
	for i, h := range hist {
		seen := h.get()
		s, f := slices.Index(seen, StatusSuspect), slices.Index(seen, StatusFailed)
		if s < 0 || f < s {
			t.Errorf("%s saw %s go %v; want suspect before failed", observers[i].Name(), victim.Name(), seen)
		}
	}
}

// A member cut off and restored before its suspicion times out is seen
// alive again by every node without ever being failed.
func TestNode_CutMemberRestoredIsAliveWithoutFailing(t *testing.T) {
	// A long suspicion (memberlist's timeout: 20 * 400ms with no
	// confirmations expected in a cluster of 4), so restoring the link
	// always wins; shoal's own expiry (6 times longer) cannot be what
	// clears it within the wait below.
	nodes, cut := startCutCluster(t, "heal", 4, func(c *Config) { c.Memberlist.SuspicionMult = 20 })
	victim, observers := nodes[3], nodes[:3]
	var hist []*statusHistory
	for _, o := range observers {
		hist = append(hist, watchStatus(t, o, victim.Name()))
	}
	cut.setCut(true)
	waitStatus(t, observers, StatusSuspect, victim.Name())
	cut.setCut(false)
	waitStatus(t, nodes, StatusAlive, namesOf(nodes)...)
	for i, o := range observers {
		// The history is recorded from watch signals, which can trail the
		// snapshot waitStatus read: wait for it to settle on alive.
		testutil.WaitFor(t, 10*time.Second, func() error {
			if seen := hist[i].get(); len(seen) == 0 || seen[len(seen)-1] != StatusAlive {
				return fmt.Errorf("%s's history of %s is %v, not back to alive yet", o.Name(), victim.Name(), seen)
			}
			return nil
		})
		if seen := hist[i].get(); slices.Contains(seen, StatusFailed) || !reflect.DeepEqual(seen, []Status{StatusAlive, StatusSuspect, StatusAlive}) {
			t.Errorf("%s saw %s go %v; want alive, suspect, alive", o.Name(), victim.Name(), seen)
		}
		// memberlist publishes a failure under its lock before any later
		// join, so one would be queued by now.
		for len(o.events) > 0 {
			if ev, ok := (<-o.events).(*MemberEvent); ok && ev.Type == EventMemberFailed && ev.Members[0].Name == victim.Name() {
				t.Errorf("%s: %s failed", o.Name(), victim.Name())
			}
		}
	}
	if d := nodes[0].Stats().DroppedMessages; d != 0 {
		t.Logf("dropped messages on %s: %d", nodes[0].Name(), d)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if s := nodes[0].Stats(); s.Suspect != 0 || s.Alive != 4 {
			return fmt.Errorf("%s stats: %d alive, %d suspect; want 4 and 0", nodes[0].Name(), s.Alive, s.Suspect)
		}
		return nil
	})
}
