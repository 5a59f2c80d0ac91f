package render

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// withHealth is m with its first instance's health set to h.
func withHealth(m node.Member, h node.Health) node.Member {
	m.Services = append([]node.Service(nil), m.Services...)
	m.Services[0].Health = h
	return m
}

// Against a real haproxy, with no reload at all: an instance whose check
// turns critical is shut at once (maintenance, sessions cut, deleted), the
// way a failed member is; one put into maintenance drains instead, keeping
// its session, and is deleted once that session ends.
func TestRunner_HealthWithRealHAProxy(t *testing.T) {
	one, two, three := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two"), backendtest.NamedTCPServer(t, "three")
	lb := localMember(t, "lb1", 1, nil)
	web1 := localMember(t, "web1", 11, map[string]string{"web": one})
	web2 := localMember(t, "web2", 12, map[string]string{"web": two})
	web3 := localMember(t, "web3", 13, map[string]string{"web": three})
	f := newHAProxyFixture(t, snapshot("lb1", 1, lb, web1, web2, web3))
	toTwo, toThree := holdConn(t, f.port, "two"), holdConn(t, f.port, "three")

	st := f.set(snapshot("lb1", 2, lb, web1, withHealth(web2, node.HealthCritical), web3))
	if st.Applied != 1 || st.Reloads != 0 || f.reloads() != 0 {
		t.Fatalf("after web2 turned critical: applied %d reloads %d, master reloads %d; want 1 0 0", st.Applied, st.Reloads, f.reloads())
	}
	if err := toTwo.Echo(time.Minute); err == nil {
		t.Fatal("web2 critical: its session still carries data; want it shut at once")
	}
	if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); len(w) != 2 {
		t.Fatalf("web2 critical: servers %v, want web1 and web3 (web2 deleted at once)", w)
	}

	st = f.set(snapshot("lb1", 3, lb, web1, withHealth(web2, node.HealthCritical), withHealth(web3, node.HealthMaintenance)))
	if st.Applied != 2 || f.reloads() != 0 {
		t.Fatalf("after web3 went into maintenance: applied %d, master reloads %d; want 2 and 0", st.Applied, f.reloads())
	}
	if err := toThree.Echo(time.Minute); err != nil {
		t.Fatalf("web3 in maintenance: its session: %v; want it to drain, still open", err)
	}
	for range 10 {
		if got, err := backendtest.AskName(f.port); err != nil || got != "one" {
			t.Fatalf("web3 in maintenance: served by %q (%v), want one only", got, err)
		}
	}
	if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); len(w) != 2 {
		t.Fatalf("web3 in maintenance: servers %v, want web1 and the draining web3", w)
	}

	toThree.Close()
	testutil.WaitFor(t, time.Minute, func() error {
		f.clk.Advance(time.Second) // the reconcile that finishes drains
		f.r.waitIdle()
		if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); len(w) != 1 {
			return fmt.Errorf("servers %v, want web1 alone once web3's session ended", w)
		}
		return nil
	})
	if p := f.proc(); f.reloads() != 0 || len(p.Workers) != 1 {
		t.Errorf("show proc: reloads %d, workers %v; want no reload and one worker", f.reloads(), p.WorkerPIDs())
	}
}
