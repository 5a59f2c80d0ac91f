package dns

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// coordView is a view with fixed network coordinates: each member sits on
// one axis at its distance in milliseconds from the agent, at the origin.
type coordView struct {
	*view
	self   string
	coords map[string]*node.Coordinate
}

func at(ms float64) *node.Coordinate {
	c := &node.Coordinate{Vec: make([]float64, 8), Error: 1.5}
	c.Vec[0] = ms / 1e3
	return c
}

func (v *coordView) Name() string { return v.self }
func (v *coordView) CachedCoordinate(name string) (*node.Coordinate, bool) {
	c, ok := v.coords[name]
	return c, ok
}

// nearCluster has six members of service "big"; node-004 has no
// coordinate and node-005 one of another dimensionality, so both sort last.
func nearCluster() *coordView {
	return &coordView{view: newView(bigSnapshot(6)), self: "node-000", coords: map[string]*node.Coordinate{
		"node-000": at(0), "node-001": at(30), "node-002": at(5), "node-003": at(12),
		"node-005": {Vec: []float64{0.001}},
	}}
}

// nearOrder is the expected order: nearest first, the agent itself first.
var nearOrder = []string{"node-000", "node-002", "node-003", "node-001"}

func TestNearSort_AnswersNearestFirst(t *testing.T) {
	v := nearCluster()
	cfg := testConfig()
	cfg.NearSort = true
	srv := startServer(t, cfg, v)
	ipOf := map[string]string{}
	for _, m := range v.Snapshot().Members {
		ipOf[m.Addr.String()] = m.Name
	}
	for _, proto := range []string{"udp", "tcp"} {
		for range 5 { // the shuffle underneath must never show through
			resp := exchange(t, proto, srv.Addr(), query("big.service.shoal.", mdns.TypeA, 0))
			var got []string
			for _, rr := range resp.Answer {
				got = append(got, ipOf[rr.(*mdns.A).A.String()])
			}
			if len(got) != 6 || !slices.Equal(got[:4], nearOrder) {
				t.Fatalf("%s A: got %v, want %v then the two without a usable coordinate", proto, got, nearOrder)
			}
			resp = exchange(t, proto, srv.Addr(), query("big.service.shoal.", mdns.TypeSRV, 0))
			got = got[:0]
			for _, rr := range resp.Answer {
				got = append(got, rr.(*mdns.SRV).Target)
			}
			var want []string
			for _, n := range nearOrder {
				want = append(want, n+".node.shoal.")
			}
			if len(got) != 6 || !slices.Equal(got[:4], want) {
				t.Fatalf("%s SRV: got %v, want %v first", proto, got, want)
			}
		}
	}
}

func TestNearSort_CapKeepsNearest(t *testing.T) {
	v := nearCluster()
	cfg := testConfig()
	cfg.NearSort = true
	cfg.MaxAnswers = 2
	srv := startServer(t, cfg, v)
	resp := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", mdns.TypeA, 0))
	got := fmt.Sprint(rdata(resp.Answer))
	if want := "[A 127.1.0.1 A 127.1.0.3]"; got != want { // node-000 and node-002
		t.Fatalf("got %s, want the two nearest %s", got, want)
	}
}

// Near sorting is off by default (answers are shuffled and the UDP fast
// path serves them) and a reload turns it on without a restart.
func TestNearSort_OffByDefaultOnByReload(t *testing.T) {
	if DefaultConfig().NearSort {
		t.Fatal("near sorting is on by default; shuffling must stay the default")
	}
	cfg := testConfig()
	cfg.MaxAnswers = 2
	srv := startServer(t, cfg, nearCluster())
	// Shuffled, the two answers are not always the two nearest: ask until
	// another pair shows, which a sorted answer never gives.
	nearest := "[A 127.1.0.1 A 127.1.0.3]"
	testutil.WaitFor(t, 30*time.Second, func() error {
		resp := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", mdns.TypeA, 0))
		if got := fmt.Sprint(rdata(resp.Answer)); got == nearest {
			return fmt.Errorf("got the nearest pair %s again; want shuffled answers", got)
		}
		return nil
	})
	cfg.NearSort = true
	if _, err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		resp := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", mdns.TypeA, 0))
		if got := fmt.Sprint(rdata(resp.Answer)); got != nearest {
			t.Fatalf("after the reload: got %s, want the two nearest %s", got, nearest)
		}
	}
}

// An instance at its own address sorts as near as its member, by its A
// record and by its .addr. SRV target.
func TestNearSort_OwnAddress(t *testing.T) {
	v := nearCluster()
	snap := bigSnapshot(6)
	snap.Members[2].Services[0].Address = net.ParseIP("10.9.0.2") // node-002, the nearest after the agent
	v.set(snap)
	cfg := testConfig()
	cfg.NearSort = true
	srv := startServer(t, cfg, v)
	a := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", mdns.TypeA, 0))
	if len(a.Answer) < 2 || a.Answer[1].(*mdns.A).A.String() != "10.9.0.2" {
		t.Errorf("A: got %q, want 10.9.0.2 second", rdata(a.Answer))
	}
	s := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", mdns.TypeSRV, 0))
	if len(s.Answer) < 2 || s.Answer[1].(*mdns.SRV).Target != "0a090002.addr.shoal." {
		t.Errorf("SRV: got %v, want 0a090002.addr.shoal. second", s.Answer)
	}
}
