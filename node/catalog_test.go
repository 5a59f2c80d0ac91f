package node

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// manyInstances is count instances with 4 tags each.
func manyInstances(count int, port uint16) []Service {
	out := make([]Service, count)
	for i := range out {
		out[i] = Service{
			ID: fmt.Sprintf("svc-%02d", i), Name: fmt.Sprintf("svc%d", i/2), Port: port + uint16(i),
			Tags: []string{"primary", "v2", fmt.Sprintf("shard-%d", i), "zone-a"}, Weight: 1,
			Meta: map[string]string{"version": "1.2.3"},
		}
	}
	return out
}

// waitCatalog waits until every observer sees owner with a catalog for
// which ok returns nil.
func waitCatalog(t testing.TB, observers []*testNode, owner string, ok func(Member) error) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, o := range observers {
			m, found := o.Snapshot().Get(owner)
			if !found {
				return fmt.Errorf("%s does not know %s", o.Name(), owner)
			}
			if err := ok(m); err != nil {
				return fmt.Errorf("%s sees %s: %w", o.Name(), owner, err)
			}
		}
		return nil
	})
}

func hasPort(port uint16, count int) func(Member) error {
	return func(m Member) error {
		if len(m.Services) != count {
			return fmt.Errorf("%d instances, want %d", len(m.Services), count)
		}
		for _, s := range m.Services {
			if s.Port == port {
				return nil
			}
		}
		return fmt.Errorf("no instance on port %d in %+v", port, m.Services)
	}
}

func TestCatalog_SixtyFourInstancesVisibleAndMetaSmall(t *testing.T) {
	nodes := startCluster(t, "big", 4, nil)
	svcs := manyInstances(64, 10000)
	if err := nodes[0].SetCatalog(svcs, nil); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[1:], "big0", func(m Member) error {
		if len(m.Services) != 64 {
			return fmt.Errorf("%d instances, want 64", len(m.Services))
		}
		for _, s := range m.Services {
			if len(s.Tags) != 4 || !s.HasTag("zone-a") || s.Meta["version"] != "1.2.3" {
				return fmt.Errorf("instance %s has tags %v meta %v", s.ID, s.Tags, s.Meta)
			}
		}
		return nil
	})
	rec := nodes[0].Snapshot().Local()
	if len(rec.Services) != 64 {
		t.Errorf("owner's own snapshot has %d instances, want 64", len(rec.Services))
	}
	for _, n := range nodes {
		for _, mn := range n.list().Members() {
			if len(mn.Meta) >= memberlist.MetaMaxSize {
				t.Errorf("%s: meta of %s is %d bytes, want under %d", n.Name(), mn.Name, len(mn.Meta), memberlist.MetaMaxSize)
			}
		}
	}
	nodes[0].mu.Lock()
	size := len(nodes[0].cat.local.raw)
	nodes[0].mu.Unlock()
	if size <= nodes[0].catalogBroadcastLimit() {
		t.Errorf("record of 64 instances is %d bytes, expected it over the %d-byte broadcast limit (fetch path)", size, nodes[0].catalogBroadcastLimit())
	}
	var fetches uint64
	for _, n := range nodes[1:] {
		fetches += n.Stats().CatalogFetches
	}
	t.Logf("record %d bytes; %d fetches by 3 receivers; owner broadcasts %d", size, fetches, nodes[0].Stats().CatalogBroadcasts)
	if fetches == 0 {
		t.Error("no receiver fetched the large record")
	}
}

func TestCatalog_SeveralInstancesOfOneService(t *testing.T) {
	nodes := startCluster(t, "multi", 2, nil)
	svcs := []Service{
		{ID: "web-1", Name: "web", Port: 8081},
		{ID: "web-2", Name: "web", Port: 8082, Address: net.IPv4(127, 0, 0, 2).To4()},
		{Name: "api", Port: 9000},
	}
	if err := nodes[0].SetCatalog(svcs, nil); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[1:], "multi0", func(m Member) error {
		got := map[string]string{}
		for _, s := range m.Services {
			got[s.ID] = fmt.Sprintf("%s:%d@%v", s.Name, s.Port, s.Address)
		}
		want := map[string]string{"web-1": "web:8081@<nil>", "web-2": "web:8082@127.0.0.2", "api": "api:9000@<nil>"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("instances %v, want %v", got, want)
		}
		return nil
	})
	dup := append(svcs, Service{ID: "web-1", Name: "web", Port: 8083})
	if err := nodes[0].SetCatalog(dup, nil); err == nil {
		t.Error("duplicate instance id accepted")
	} else {
		t.Logf("duplicate id: %v", err)
	}
}

func TestCatalog_LateJoinerConverges(t *testing.T) {
	nodes := startCluster(t, "late", 2, nil)
	if err := nodes[0].SetCatalog(manyInstances(64, 20000), nil); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].SetServices([]Service{{Name: "db", Port: 5432}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:1], "late1", hasPort(5432, 1))
	cfg := testConfig("late2")
	cfg.Services = []Service{{Name: "cache", Port: 6379}}
	late := startNode(t, cfg)
	if _, err := late.Join([]string{nodes[1].addr()}, false); err != nil {
		t.Fatal(err)
	}
	all := append(nodes, late)
	waitCatalog(t, all[1:], "late0", hasPort(20063, 64))
	waitCatalog(t, all, "late1", hasPort(5432, 1))
	waitCatalog(t, all, "late2", hasPort(6379, 1))
}

func TestCatalog_HealedPartitionConverges(t *testing.T) {
	nodes, tr := startCutCluster(t, "heal", 3, nil)
	tr.setCut(true)
	waitStatus(t, nodes[:2], StatusFailed, "heal2")
	// Both sides change while apart.
	if err := nodes[0].SetCatalog(manyInstances(40, 30000), nil); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].SetServices([]Service{{Name: "island", Port: 7777}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[1:2], "heal0", hasPort(30039, 40))
	tr.setCut(false)
	waitStatus(t, nodes, StatusAlive, "heal0", "heal1", "heal2")
	waitCatalog(t, nodes[2:], "heal0", hasPort(30039, 40))
	waitCatalog(t, nodes[:2], "heal2", hasPort(7777, 1))
}

func TestCatalog_OwnerRestartWins(t *testing.T) {
	nodes := startCluster(t, "again", 2, nil)
	if err := nodes[1].SetServices([]Service{{Name: "old", Port: 1111}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:1], "again1", hasPort(1111, 1))
	_, port := nodes[1].LocalAddr()
	nodes[1].Shutdown()
	waitStatus(t, nodes[:1], StatusFailed, "again1")
	cfg := testConfig("again1")
	cfg.BindPort = int(port)
	cfg.Services = []Service{{Name: "new", Port: 2222}}
	back := startNode(t, cfg)
	if _, err := back.Join([]string{nodes[0].addr()}, false); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:1], "again1", hasPort(2222, 1))
}

func TestCatalog_ReapedMemberRecordGoes(t *testing.T) {
	nodes := startCluster(t, "reap", 3, func(c *Config) { c.ReconnectTimeout = 500 * time.Millisecond })
	if err := nodes[2].SetServices([]Service{{Name: "gone", Port: 3333}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:2], "reap2", hasPort(3333, 1))
	nodes[2].Shutdown()
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes[:2] {
			if _, ok := n.Snapshot().Get("reap2"); ok {
				return fmt.Errorf("%s still lists reap2", n.Name())
			}
			n.mu.Lock()
			_, held := n.cat.records["reap2"]
			n.mu.Unlock()
			if held {
				return fmt.Errorf("%s still holds the record of reaped reap2", n.Name())
			}
		}
		return nil
	})
}

func TestCatalog_HealthChangePropagatesWithEvent(t *testing.T) {
	nodes := startCluster(t, "hl", 3, nil)
	web := Service{ID: "web-1", Name: "web", Port: 8080, Checks: []CheckState{{ID: "http", Status: HealthPassing}}}
	api := Service{Name: "api", Port: 9000}
	if err := nodes[0].SetCatalog([]Service{web, api}, nil); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[1:], "hl0", hasPort(8080, 2))

	web.Checks[0] = CheckState{ID: "http", Status: HealthCritical, Note: "HTTP 503"}
	if err := nodes[0].SetCatalog([]Service{web, api}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool {
			h, ok := e.(*HealthEvent)
			return ok && h.Member.Name == "hl0" && len(h.Changed) == 1 && h.Changed[0].Health == HealthCritical
		}).(*HealthEvent)
		if c := ev.Changed[0]; c.ID != "web-1" || c.Checks[0].Note != "HTTP 503" || c.Checks[0].ServiceID != "web-1" {
			t.Errorf("%s: health event changed %+v", n.Name(), c)
		}
		if ev.EventType().String() != "health" {
			t.Errorf("event type %q, want health", ev.EventType())
		}
	}
	// A critical node check takes every instance out.
	if err := nodes[0].SetCatalog([]Service{web, api}, []CheckState{{ID: "disk", Status: HealthCritical}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes, "hl0", func(m Member) error {
		if m.Health != HealthCritical {
			return fmt.Errorf("member health %s, want critical", m.Health)
		}
		for _, s := range m.Services {
			if s.Health != HealthCritical {
				return fmt.Errorf("instance %s health %s, want critical", s.ID, s.Health)
			}
		}
		return nil
	})
	ev := nextEvent(t, nodes[1], 30*time.Second, func(e Event) bool {
		h, ok := e.(*HealthEvent)
		return ok && h.Member.Health == HealthCritical
	}).(*HealthEvent)
	if len(ev.Changed) != 1 || ev.Changed[0].ID != "api" {
		t.Errorf("node check event changed %+v, want only api (web was already critical)", ev.Changed)
	}
}

func TestCatalog_BurstIsCoalesced(t *testing.T) {
	const interval = time.Minute
	nodes := startCluster(t, "burst", 3, func(c *Config) {
		if c.Name == "burst0" {
			c.CatalogInterval = interval
		}
	})
	before := nodes[0].Stats().CatalogBroadcasts
	start := time.Now()
	for i := range 200 {
		if err := nodes[0].SetServices([]Service{{Name: "flap", Port: uint16(1000 + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Push/pull repairs what the coalescing holds back; the owner never
	// sends more than the first change plus one per interval.
	waitCatalog(t, nodes[1:], "burst0", hasPort(1199, 1))
	sent := nodes[0].Stats().CatalogBroadcasts - before
	bound := uint64(1 + time.Since(start)/interval)
	t.Logf("200 SetCatalog calls: %d broadcasts (bound %d at one per %s)", sent, bound, interval)
	if sent > bound {
		t.Errorf("%d broadcasts for 200 changes, bound %d", sent, bound)
	}
	if nodes[0].Snapshot().Local().Services[0].Port != 1199 {
		t.Errorf("local snapshot not updated at once: %+v", nodes[0].Snapshot().Local().Services)
	}
}

func TestCatalog_InvalidRecordDroppedAndCounted(t *testing.T) {
	key := make([]byte, 32)
	nodes := startCluster(t, "forge", 2, func(c *Config) { c.Keys = [][]byte{key} })
	// A raw memberlist node with the cluster key: it passes encryption
	// but not shoal's rules.
	mc := testMemberlist()
	mc.Name, mc.BindAddr, mc.BindPort = "forge-raw", "127.0.0.1", 0
	kr, err := memberlist.NewKeyring(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	mc.Keyring = kr
	mc.Logger = nil
	mc.LogOutput = discard{}
	raw, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Shutdown() })
	target := nodes[0].list().LocalNode()

	bad := map[string][]byte{
		"port 0":     forgedRecord("forge1", 1<<62, []Service{{Name: "web", Port: 0}}),
		"bad name":   forgedRecord("forge1", 1<<62, []Service{{Name: "we b", Port: 80}}),
		"long note":  forgedRecord("forge1", 1<<62, []Service{{Name: "web", Port: 80, Checks: []CheckState{{ID: "c", Note: strings.Repeat("x", 300)}}}}),
		"garbage":    append([]byte{byte(msgCatalog), recordFormat, 6}, "forge1"...),
		"huge count": {byte(msgCatalog), recordFormat, 6, 'f', 'o', 'r', 'g', 'e', '1', 1, 0xff, 0xff, 0x03},
	}
	before := nodes[0].Stats()
	for what, msg := range bad {
		if err := raw.SendReliable(target, msg); err != nil {
			t.Fatalf("send %s: %v", what, err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		s := nodes[0].Stats()
		if got := s.CatalogRejected - before.CatalogRejected; got != uint64(len(bad)) {
			return fmt.Errorf("%d records rejected, want %d", got, len(bad))
		}
		if s.DroppedMessages-before.DroppedMessages < uint64(len(bad)) {
			return fmt.Errorf("%d dropped messages, want at least %d", s.DroppedMessages-before.DroppedMessages, len(bad))
		}
		return nil
	})
	if m, _ := nodes[0].Snapshot().Get("forge1"); len(m.Services) != 0 {
		t.Errorf("forged record applied: %+v", m.Services)
	}
	// Still serving: a real change still arrives.
	if err := nodes[1].SetServices([]Service{{Name: "web", Port: 80}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:1], "forge1", hasPort(80, 1))
}

// forgedRecord encodes a record without the owner's checks.
func forgedRecord(node string, version uint64, svcs []Service) []byte {
	e := encoder{}
	e.u8(uint8(msgCatalog))
	e.u8(recordFormat)
	e.str(node)
	e.uvarint(version)
	e.buf = append(e.buf, encodeContent(svcs, nil)...)
	return e.buf
}

func TestCheckCatalog_NamesWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		svcs   []Service
		checks []CheckState
		want   string
	}{
		{[]Service{{Name: "web"}}, nil, "service web: port"},
		{[]Service{{Name: "web", Port: 1, Meta: map[string]string{"k": "a\nb"}}}, nil, "meta k"},
		{[]Service{{Name: "web", Port: 1, Tags: []string{"a b"}}}, nil, "tag"},
		{manyInstances(MaxInstances+1, 1), nil, "more than 256"},
		{nil, []CheckState{{ID: "x", ServiceID: "web"}}, "node check"},
		{nil, []CheckState{{ID: "x", Status: 9}}, "status 9"},
	} {
		err := CheckCatalog(c.svcs, c.checks)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckCatalog(%+v, %+v) = %v, want an error naming %q", c.svcs, c.checks, err, c.want)
		}
	}
}

// rawMemberlist is a bare memberlist node that can send shoal messages.
func rawMemberlist(t *testing.T, name string) *memberlist.Memberlist {
	t.Helper()
	mc := testMemberlist()
	mc.Name, mc.BindAddr, mc.BindPort = name, "127.0.0.1", 0
	mc.Logger, mc.LogOutput = nil, discard{}
	raw, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Shutdown() })
	return raw
}

// An owner that hears of a version of its own record past its own (its
// clock went back across a restart) jumps past it, so the cluster ends
// with the owner's catalog, not the stale one.
func TestCatalog_OwnerRefutesAFutureVersion(t *testing.T) {
	nodes := startCluster(t, "ref", 2, nil)
	if err := nodes[1].SetServices([]Service{{Name: "real", Port: 4444}}); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, nodes[:1], "ref1", hasPort(4444, 1))
	raw := rawMemberlist(t, "ref-raw")
	future := uint64(time.Now().Add(time.Hour).UnixNano())
	stale := forgedRecord("ref1", future, []Service{{Name: "stale", Port: 5555}})
	for _, n := range nodes {
		if err := raw.SendReliable(n.list().LocalNode(), stale); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		nodes[1].mu.Lock()
		defer nodes[1].mu.Unlock()
		if v := nodes[1].cat.local.Version; v <= future {
			return fmt.Errorf("owner's version %d, want past the future %d", v, future)
		}
		return nil
	})
	waitCatalog(t, nodes, "ref1", func(m Member) error {
		if err := hasPort(4444, 1)(m); err != nil {
			return err
		}
		if m.Services[0].Name != "real" {
			return fmt.Errorf("instance %+v, want the owner's", m.Services[0])
		}
		return nil
	})
}
