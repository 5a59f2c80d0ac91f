package node

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// testMemberlist shrinks memberlist's timings so clusters converge and
// detect failures in well under a second, yet stay stable on a loaded
// 2-core machine running with -race.
func testMemberlist() *memberlist.Config {
	mc := memberlist.DefaultLocalConfig()
	mc.GossipInterval = 20 * time.Millisecond
	// Probes are generous: under -race on a loaded 2-core machine a 100 ms
	// probe timeout marks healthy nodes failed, which tests then misread.
	mc.ProbeInterval = 400 * time.Millisecond
	mc.ProbeTimeout = 300 * time.Millisecond
	mc.SuspicionMult = 3
	mc.PushPullInterval = 2 * time.Second
	mc.TCPTimeout = 2 * time.Second
	return mc
}

func testConfig(name string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Profile = "local"
	cfg.Memberlist = testMemberlist()
	cfg.ReapInterval = 100 * time.Millisecond
	cfg.ReconnectInterval = 200 * time.Millisecond
	// Events in order never wait; this only bounds how long an overtaking
	// event waits for its predecessor, which under -race on a loaded
	// machine can take a few delayed gossip rounds.
	cfg.EventOrderWindow = 2 * time.Second
	cfg.LeaveTimeout = 2 * time.Second
	return cfg
}

type testNode struct {
	*Node
	logs   *testutil.SyncBuffer
	events <-chan Event
}

func startNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("new node %s: %v", cfg.Name, err)
	}
	events, _ := n.Subscribe(4096)
	if err := n.Start(); err != nil {
		t.Fatalf("start node %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return &testNode{Node: n, logs: logs, events: events}
}

func (n *testNode) addr() string {
	ip, port := n.LocalAddr()
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// startCluster starts count nodes named prefix0..N and joins them to the first.
func startCluster(t testing.TB, prefix string, count int, tweak func(*Config)) []*testNode {
	t.Helper()
	nodes := make([]*testNode, count)
	for i := range nodes {
		cfg := testConfig(fmt.Sprintf("%s%d", prefix, i))
		if tweak != nil {
			tweak(&cfg)
		}
		nodes[i] = startNode(t, cfg)
		if i > 0 {
			if _, err := nodes[i].Join([]string{nodes[0].addr()}, false); err != nil {
				t.Fatalf("join %s: %v", cfg.Name, err)
			}
		}
	}
	waitStatus(t, nodes, StatusAlive, namesOf(nodes)...)
	return nodes
}

func namesOf(nodes []*testNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name())
	}
	return out
}

// waitStatus waits until every observer sees each named member with status.
func waitStatus(t testing.TB, observers []*testNode, status Status, names ...string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, o := range observers {
			snap := o.Snapshot()
			for _, name := range names {
				m, ok := snap.Get(name)
				if !ok {
					return fmt.Errorf("%s does not know %s", o.Name(), name)
				}
				if m.Status != status {
					return fmt.Errorf("%s sees %s %s, want %s", o.Name(), name, m.Status, status)
				}
			}
		}
		return nil
	})
}

// nextEvent returns the next event matching keep, failing after timeout.
func nextEvent(t testing.TB, n *testNode, timeout time.Duration, keep func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-n.events:
			if !ok {
				t.Fatalf("%s: event stream closed", n.Name())
			}
			if keep(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("%s: no matching event within %s", n.Name(), timeout)
			return nil
		}
	}
}

// userEventsUntil collects the user events a node delivers up to and
// including the sentinel event name.
func userEventsUntil(t testing.TB, n *testNode, sentinel string) []*UserEvent {
	t.Helper()
	var got []*UserEvent
	for {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser })
		ue := ev.(*UserEvent)
		if ue.Name == sentinel {
			return got
		}
		got = append(got, ue)
	}
}
