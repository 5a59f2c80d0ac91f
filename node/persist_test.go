package node

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

func TestNode_RestartFromSnapshotRejoinsWithoutReplay(t *testing.T) {
	nodes := startCluster(t, "snap", 2, nil)
	path := filepath.Join(t.TempDir(), "snapshot")
	cfg := testConfig("snap-r")
	cfg.SnapshotPath = path
	first := startNode(t, cfg)
	if _, err := first.Join([]string{nodes[0].addr()}, false); err != nil {
		t.Fatal(err)
	}
	all := append(nodes, first)
	waitStatus(t, all, StatusAlive, first.Name())
	if err := nodes[0].UserEvent("old", nil, false); err != nil {
		t.Fatal(err)
	}
	userEventsUntil(t, first, "old")
	testutil.WaitFor(t, 10*time.Second, func() error {
		data, _ := os.ReadFile(path)
		if !strings.Contains(string(data), "alive: snap0") || !strings.Contains(string(data), "event-clock:") {
			return fmt.Errorf("snapshot does not yet record peers and clocks:\n%s", data)
		}
		return nil
	})
	_, port := first.LocalAddr()
	first.Shutdown() // crash
	waitStatus(t, nodes, StatusFailed, first.Name())

	// Restart on the same port with the same snapshot and no -join.
	cfg.BindPort = int(port)
	second := startNode(t, cfg)
	waitStatus(t, append(nodes, second), StatusAlive, namesOf(append(nodes, second))...)
	if err := nodes[1].UserEvent("sentinel", nil, false); err != nil {
		t.Fatal(err)
	}
	if got := userEventsUntil(t, second, "sentinel"); len(got) != 0 {
		t.Errorf("restarted node replayed %d old events (first: %s)", len(got), got[0].Name)
	}
}

func TestNode_SnapshotSurvivesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot")
	os.WriteFile(path, []byte("alive: a\nclock: x\nnonsense\nalive: b 127.0.0.1:1\nevent-clock: 9\n"), 0o600)
	cfg := testConfig("garbage")
	cfg.SnapshotPath = path
	n := startNode(t, cfg)
	if got := n.eventClock.Time(); got < 9 {
		t.Errorf("event clock %d after restore, want at least 9", got)
	}
	if !strings.Contains(n.logs.String(), "malformed snapshot line") {
		t.Error("malformed snapshot lines were not reported")
	}
}

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNode_DifferentKeysCannotJoin(t *testing.T) {
	a := startNode(t, withKeys(testConfig("keya"), newKey(t)))
	b := startNode(t, withKeys(testConfig("keyb"), newKey(t)))
	if _, err := b.Join([]string{a.addr()}, false); err == nil {
		t.Fatal("node with another key joined")
	}
	plain := startNode(t, testConfig("plain"))
	if _, err := plain.Join([]string{a.addr()}, false); err == nil {
		t.Fatal("node without a key joined an encrypted cluster")
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(a.logs.String(), "gossip encryption key mismatch") {
			return fmt.Errorf("no log line names the key mismatch; logs:\n%s", a.logs.String())
		}
		return nil
	})
	if a.Stats().Alive != 1 {
		t.Errorf("encrypted node sees %d alive members, want 1", a.Stats().Alive)
	}
}

func withKeys(cfg Config, keys ...[]byte) Config {
	cfg.Keys = keys
	return cfg
}

func TestNode_KeyRotation(t *testing.T) {
	oldKey, newKeyBytes := newKey(t), newKey(t)
	dir := t.TempDir()
	i := 0
	nodes := startCluster(t, "rot", 3, func(c *Config) {
		c.Keys = [][]byte{oldKey}
		c.KeyringFile = filepath.Join(dir, fmt.Sprintf("keyring%d.json", i))
		i++
	})
	b64 := base64.StdEncoding.EncodeToString
	if _, err := nodes[0].InstallKey(b64(newKeyBytes)); err != nil {
		t.Fatalf("install: %v", err)
	}
	if _, err := nodes[1].UseKey(b64(newKeyBytes)); err != nil {
		t.Fatalf("use: %v", err)
	}
	if resp, err := nodes[2].RemoveKey(b64(newKeyBytes)); err == nil {
		t.Fatalf("removing the primary key succeeded: %+v", resp)
	}
	if _, err := nodes[2].RemoveKey(b64(oldKey)); err != nil {
		t.Fatalf("remove: %v", err)
	}
	resp, err := nodes[0].ListKeys()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(resp.Keys) != 1 || resp.Keys[b64(newKeyBytes)] != 3 || resp.PrimaryKeys[b64(newKeyBytes)] != 3 {
		t.Errorf("keys after rotation: %v primary %v, want only the new key on 3 nodes", resp.Keys, resp.PrimaryKeys)
	}
	data, err := os.ReadFile(filepath.Join(dir, "keyring2.json"))
	if err != nil || strings.Contains(string(data), b64(oldKey)) || !strings.Contains(string(data), b64(newKeyBytes)) {
		t.Errorf("keyring file not rewritten with the new key only: %s (%v)", data, err)
	}
	// A newcomer with only the new key joins the rotated cluster.
	late := startNode(t, withKeys(testConfig("rot-late"), newKeyBytes))
	if _, err := late.Join([]string{nodes[0].addr()}, false); err != nil {
		t.Fatalf("newcomer with the new key: %v", err)
	}
	if _, err := nodes[0].InstallKey("not base64!"); err == nil {
		t.Error("bad key accepted")
	}
}

func TestNode_MalformedGossipIsDropped(t *testing.T) {
	n := startNode(t, testConfig("garble"))
	d := &delegate{n.Node}
	inputs := [][]byte{
		nil, {0}, {99, 1, 2}, {byte(msgUserEvent)}, {byte(msgUserEvent), 0xff, 0xff, 0xff},
		{byte(msgQuery), 1, 2, 200, 1}, {byte(msgPushPull), 5, 250, 250, 250, 250, 1},
		append([]byte{byte(msgJoinIntent), 1, 3}, "abcdef"...),
	}
	for _, in := range inputs {
		d.NotifyMsg(in)
	}
	d.MergeRemoteState([]byte{1, 2, 3}, true)
	if got := n.Stats().DroppedMessages; got != uint64(len(inputs)+1) {
		t.Errorf("dropped %d messages, want %d", got, len(inputs)+1)
	}
	// Raw garbage at the gossip port: the node keeps running.
	conn, err := net.Dial("udp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 50 {
		conn.Write([]byte("\x00garbage\xff\xfe"))
	}
	peer := startNode(t, testConfig("garble2"))
	if _, err := peer.Join([]string{n.addr()}, false); err != nil {
		t.Fatalf("join after garbage: %v", err)
	}
}

func TestNode_ReconnectBringsBackARestartedMember(t *testing.T) {
	nodes := startCluster(t, "recon", 2, nil)
	_, port := nodes[1].LocalAddr()
	nodes[1].Shutdown()
	waitStatus(t, nodes[:1], StatusFailed, "recon1")
	// Same name and port, no -join and no snapshot: only the survivor's
	// reconnect loop can bring it back.
	cfg := testConfig("recon1")
	cfg.BindPort = int(port)
	back := startNode(t, cfg)
	waitStatus(t, []*testNode{nodes[0], back}, StatusAlive, "recon0", "recon1")
}

func TestSnapshot_CompactsAndKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot")
	s, err := openSnapshot(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; s.size < snapshotMaxSize/2 || i < 10; i++ {
		s.apply(snapshotRecord{kind: "alive", name: fmt.Sprintf("n%d", i%10), addr: fmt.Sprintf("127.0.0.1:%d", 1000+i)})
	}
	for i := 0; i < 3000; i++ {
		s.apply(snapshotRecord{kind: "not-alive", name: "n9"})
		s.apply(snapshotRecord{kind: "alive", name: "n9", addr: fmt.Sprintf("127.0.0.1:%d", 5000+i)})
	}
	s.flush()
	s.close()
	st, _ := os.Stat(path)
	if st.Size() > snapshotMaxSize {
		t.Errorf("snapshot is %d bytes, want compaction below %d", st.Size(), snapshotMaxSize)
	}
	again, err := openSnapshot(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if got := len(again.restored.peers); got != 10 {
		t.Errorf("restored %d peers, want 10", got)
	}
	if again.alive["n9"] != "127.0.0.1:7999" {
		t.Errorf("n9 restored at %q, want the newest address 127.0.0.1:7999", again.alive["n9"])
	}
}

func TestLogBridge_RateLimitsFloods(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	w := &memberlistLog{logger: slog.New(slog.NewTextHandler(logs, nil))}
	for range 1000 {
		w.Write([]byte("[ERR] memberlist: failed to decode packet: garbage"))
	}
	if got := strings.Count(logs.String(), "failed to decode packet"); got != logBurst {
		t.Errorf("logged %d of 1000 flood lines in one second, want the burst of %d", got, logBurst)
	}
}

// Names the gossip layer would refuse still cannot add, end or change a
// record of the snapshot file when handed to its writer, whether appended
// or rewritten by compaction.
func TestSnapshot_NamesCannotInjectRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot")
	injected := []string{
		"x\nalive: planted 127.0.0.9:1", "y\nleave", "z\rclock: 99999", "w\x00event-clock: 7",
		"v\nnot-alive: good", `q"`, "a b", "", strings.Repeat("n", 70000),
	}
	write := func(s *snapshotter) {
		for _, name := range injected {
			s.apply(snapshotRecord{kind: "alive", name: name, addr: "127.0.0.9:3"})
		}
		s.apply(snapshotRecord{kind: "not-alive", name: "good\nleave"})
		s.apply(snapshotRecord{kind: "not-alive", name: "good\nclock: 5"})
	}
	check := func(step string) *snapshotter {
		t.Helper()
		s, err := openSnapshot(path, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		data = data[:min(len(data), 2000)]
		r := s.restored
		if len(s.alive) != 1 || s.alive["good"] != "127.0.0.1:1000" || r.left || r.clock != 0 || r.eventClock != 0 {
			t.Errorf("%s: restored alive %q, left %v, clocks %d/%d; want only good, not left, zero clocks\nfile:\n%q",
				step, s.alive, r.left, r.clock, r.eventClock, data)
		}
		if !strings.HasPrefix(string(data), "alive: good 127.0.0.1:1000\n") || strings.Count(string(data), "alive:") != 1 {
			t.Errorf("%s: file has other records than good's:\n%q", step, data)
		}
		return s
	}

	s, err := openSnapshot(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.apply(snapshotRecord{kind: "alive", name: "good", addr: "127.0.0.1:1000"})
	write(s)
	s.flush()
	s.close()
	s = check("appended")
	write(s)
	s.compact()
	s.close()
	check("compacted").close()
}

// A gossip send that races the transport's close at shutdown is expected:
// it is logged at DEBUG then, and stays an ERROR while the node runs.
func TestLogBridge_ClosedSocketAtShutdownIsNotAnError(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	stopping := false
	w := &memberlistLog{logger: slog.New(slog.NewTextHandler(logs, nil)), stopping: func() bool { return stopping }}
	line := "[ERR] memberlist: Failed to send gossip to 127.0.0.1:7946: write udp 127.0.0.1:7946->127.0.0.1:7947: use of closed network connection"
	w.Write([]byte(line))
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a closed-socket error while running was not logged as ERROR:\n%s", logs.String())
	}
	logs.Reset()
	stopping = true
	w.Write([]byte(line))
	if logs.String() != "" {
		t.Errorf("at shutdown the closed-socket error still logged at INFO or above:\n%s", logs.String())
	}
}
