package node

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// badMeta is node meta that decodes but carries what encodeMeta refuses.
func badMeta(tags map[string]string) []byte {
	e := encoder{}
	e.u8(metaVersion)
	e.uvarint(uint64(len(tags)))
	for k, v := range tags {
		e.str(k)
		e.str(v)
	}
	return e.buf
}

func waitMember(t testing.TB, n *testNode, name string) Member {
	t.Helper()
	var m Member
	testutil.WaitFor(t, 30*time.Second, func() error {
		var ok bool
		if m, ok = n.Snapshot().Get(name); !ok {
			return fmt.Errorf("%s does not list %s; members: %v", n.Name(), name, namesOfMembers(n.Members()))
		}
		return nil
	})
	return m
}

func namesOfMembers(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%q", m.Name))
	}
	return out
}

func waitRejected(t testing.TB, n *Node, want uint64) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		if got := n.Stats().RejectedMembers; got < want {
			return fmt.Errorf("RejectedMembers = %d, want %d", got, want)
		}
		return nil
	})
}

// An unkeyed node receives forged alive messages, one raw UDP datagram
// each, whose name, address or tags break the rules. None enters the view
// or the snapshot file; each is counted.
func TestNode_ForgedAliveWithInvalidDataIsRejected(t *testing.T) {
	cfg := testConfig("target")
	cfg.SnapshotPath = filepath.Join(t.TempDir(), "snapshot")
	n := startNode(t, cfg)
	f := newForger(t)
	forged := []forgedAlive{
		f.alive("evil\nname", nil),
		f.alive("a b", nil),
		f.alive(strings.Repeat("a", MaxNameLen+1), nil), // over Serf's 128
		f.alive("esc\x1b[31m", nil),
		f.alive("", nil),
		f.alive("garbled-meta", []byte{0xff, 1, 2}),
		f.alive("bad-tag-key", badMeta(map[string]string{"bad key": "v"})),
		f.alive("bad-tag-value", badMeta(map[string]string{"role": "web\nx"})),
		f.alive("huge-meta", append(badMeta(nil), make([]byte, 600)...)),
		{Name: "bad-addr", Addr: net.IP{127, 0, 1}, Port: 7946},
		{Name: "zero-addr", Addr: net.IPv4zero, Port: 7946},
	}
	for _, a := range forged {
		f.send(n.addr(), a.packet())
	}
	// The sentinel: a forged member with a valid name, which an unkeyed
	// node accepts (that is why an agent that renders requires a key).
	// Once it is in, every packet sent before it has been handled.
	f.send(n.addr(), f.alive("forged-ok", nil).packet())
	waitMember(t, n, "forged-ok")
	waitRejected(t, n.Node, uint64(len(forged)))

	for _, a := range forged {
		if _, ok := n.Snapshot().Get(a.Name); ok {
			t.Errorf("forged member %q (addr %v) is in the view", a.Name, a.Addr)
		}
	}
	if got := len(n.Members()); got != 2 {
		t.Errorf("view has %d members (%v), want target and forged-ok", got, namesOfMembers(n.Members()))
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		data, _ := os.ReadFile(cfg.SnapshotPath)
		if !strings.Contains(string(data), "alive: forged-ok ") {
			return fmt.Errorf("snapshot does not record the sentinel yet:\n%s", data)
		}
		for _, bad := range []string{"evil", "name", "a b", "esc", "garbled", "bad-"} {
			if strings.Contains(string(data), bad) {
				return fmt.Errorf("snapshot records %q:\n%s", bad, data)
			}
		}
		return nil
	})
	if !strings.Contains(n.logs.String(), `msg="rejected member`) {
		t.Error("no WARN line reports a rejected member")
	}
}

// The same forged packet that an unkeyed node accepts is ignored by a node
// with a gossip key; the same message sealed with the key goes in, which
// shows that the packets were read and the first one dropped for the key.
func TestNode_ForgedAliveIgnoredByKeyedNode(t *testing.T) {
	key := newKey(t)
	n := startNode(t, withKeys(testConfig("keyed"), key))
	f := newForger(t)
	f.send(n.addr(), f.alive("forged-plain", nil).packet())
	f.send(n.addr(), encryptPacket(t, key, f.alive("forged-sealed", nil).packet()))
	waitMember(t, n, "forged-sealed")
	if _, ok := n.Snapshot().Get("forged-plain"); ok {
		t.Error("a keyed node accepted an unencrypted forged member")
	}
}

// A flood of forged names is counted in full but logged in a few lines.
func TestNode_ForgedNameFloodLogsFewLines(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	n, err := New(testConfig("flooded"), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	ip, port := n.LocalAddr()
	target := net.JoinHostPort(ip.String(), fmt.Sprint(port))
	f := newForger(t)
	const total, batch = 3000, 100
	for sent := 0; sent < total; {
		// In batches, each waited for: a loopback socket buffer holds
		// only a few hundred datagrams.
		for i := 0; i < batch; i++ {
			f.send(target, f.alive(fmt.Sprintf("forged %d", sent+i), nil).packet())
		}
		sent += batch
		waitRejected(t, n, uint64(sent))
	}
	lines := strings.Count(logs.String(), "\n")
	rejected := strings.Count(logs.String(), `msg="rejected member:`)
	t.Logf("%d forged names: %d log lines, %d of them rejection lines", total, lines, rejected)
	if rejected > rejectLogBurst || lines > 100 {
		t.Errorf("%d forged names logged %d lines (%d rejection lines), want at most %d rejection lines and few lines:\n%s",
			total, lines, rejected, rejectLogBurst, logs.String())
	}
	if got := n.Stats().RejectedMembers; got != total {
		t.Errorf("RejectedMembers = %d, want %d", got, total)
	}
	if got := len(n.Members()); got != 1 {
		t.Errorf("view has %d members, want only the node itself", got)
	}
}

func TestRejectLimiter_OncePerNamePerInterval(t *testing.T) {
	var l rejectLimiter
	now := time.Unix(1000, 0)
	if ok, _ := l.allow("a b", now); !ok {
		t.Fatal("first rejection of a name not logged")
	}
	if ok, _ := l.allow("a b", now.Add(time.Second)); ok {
		t.Error("second rejection of a name within the interval logged")
	}
	for i := 1; i < rejectLogBurst+5; i++ {
		l.allow(fmt.Sprintf("n %d", i), now.Add(time.Second))
	}
	if got := len(l.logged); got != rejectLogBurst {
		t.Errorf("remembered %d names, want the burst of %d", got, rejectLogBurst)
	}
	ok, suppressed := l.allow("a b", now.Add(rejectLogInterval))
	if !ok || suppressed != 6 {
		t.Errorf("next interval: logged %v, suppressed %d; want true, 6", ok, suppressed)
	}
}

// A join refuses a peer that lists an invalid member, and a conflict-free
// valid list passes.
func TestNode_MergeRefusesInvalidMembers(t *testing.T) {
	n := startNode(t, testConfig("merger"))
	md := &mergeDelegate{n.Node}
	good := &memberlist.Node{Name: "good", Addr: net.IPv4(127, 0, 0, 1).To4(), Port: 7946}
	if err := md.NotifyMerge([]*memberlist.Node{good}); err != nil {
		t.Fatalf("valid peer list refused: %v", err)
	}
	bad := &memberlist.Node{Name: "bad\nname", Addr: net.IPv4(127, 0, 0, 1).To4(), Port: 7946}
	err := md.NotifyMerge([]*memberlist.Node{good, bad})
	if err == nil || !strings.Contains(err.Error(), `"bad\nname"`) {
		t.Errorf("peer list with %q: got %v, want an error naming it", bad.Name, err)
	}
	if got := n.Stats().RejectedMembers; got != 1 {
		t.Errorf("RejectedMembers = %d, want 1", got)
	}
}

// Intents (by gossip or push/pull) and query messages that name invalid
// nodes are dropped, and intents for unknown members are bounded.
func TestNode_IntentsForInvalidOrTooManyNamesAreDropped(t *testing.T) {
	n := startNode(t, testConfig("intents"))
	d := &delegate{n.Node}
	d.NotifyMsg(encodeMessage(msgJoinIntent, &joinIntent{LTime: 5, Node: "evil\nname"}))
	d.NotifyMsg(encodeMessage(msgLeaveIntent, &leaveIntent{LTime: 5, Node: "a b"}))
	d.NotifyMsg(encodeMessage(msgQuery, &queryMsg{LTime: 1, ID: 1, Addr: []byte{127, 0, 0, 1}, Port: 1,
		SourceNode: "x\x1b", Timeout: time.Second, Name: "q"}))
	d.NotifyMsg(encodeMessage(msgQueryResponse, &queryResponseMsg{LTime: 1, ID: 1, From: "y z"}))
	d.MergeRemoteState(encodeMessage(msgPushPull, &pushPullMsg{
		StatusLTimes: map[string]LamportTime{"p q": 3, "r\ns": 4}, LeftMembers: []string{"p q"},
	}), false)
	if got := n.Stats().DroppedMessages; got != 6 {
		t.Errorf("DroppedMessages = %d, want 6 (2 intents, 2 query messages, 2 push/pull names)", got)
	}
	if got := n.Stats().Queries; got != 0 {
		t.Errorf("a query from an invalid source was handled (Queries = %d)", got)
	}
	for i := 0; i < maxRecentIntents+500; i++ {
		n.handleJoinIntent(&joinIntent{LTime: 1, Node: fmt.Sprintf("unknown-%d", i)})
	}
	n.mu.Lock()
	held := len(n.recentIntents)
	_, evil := n.recentIntents["evil\nname"]
	n.mu.Unlock()
	if held != maxRecentIntents || evil {
		t.Errorf("recentIntents holds %d (invalid name held: %v), want the cap %d", held, evil, maxRecentIntents)
	}
}

// Two machines with one name: the cluster votes as Serf's does, the one it
// knew first keeps the name, and the other shuts down with an error that
// names the name and the owner.
func TestNode_NameConflictLoserShutsDown(t *testing.T) {
	nodes := startCluster(t, "vote", 3, nil)
	owner := nodes[2]
	dup := startNode(t, testConfig(owner.Name()))
	if _, err := dup.Join([]string{nodes[0].addr()}, false); err != nil {
		t.Fatalf("join of the duplicate: %v", err)
	}
	select {
	case err := <-dup.Fatal():
		// How many of the two other members answer before the vote's
		// deadline depends on timing; any majority names the owner.
		want := fmt.Sprintf("node name %q is in use by %s (", owner.Name(), owner.addr())
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "members agree); pick another -node") {
			t.Errorf("loser's error: %v, want it to name the owner's address (%q) and the vote", err, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the duplicate did not lose the vote; its logs:\n%s", dup.logs.String())
	}
	select {
	case <-dup.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the loser reported the conflict but did not shut down")
	}
	select {
	case <-owner.Done():
		t.Fatal("the owner of the name shut down too")
	case err := <-owner.Fatal():
		t.Fatalf("the owner of the name got a fatal error: %v", err)
	default:
	}
	waitStatus(t, nodes, StatusAlive, namesOf(nodes)...)
	for _, o := range nodes {
		if m, _ := o.Snapshot().Get(owner.Name()); fmt.Sprintf("%s:%d", m.Addr, m.Port) != owner.addr() {
			t.Errorf("%s sees %s at %s:%d, want the owner at %s", o.Name(), m.Name, m.Addr, m.Port, owner.addr())
		}
	}
}
