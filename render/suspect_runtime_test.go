package render

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// serverWeights reads the current worker's "show servers state" through
// the master socket: server name -> user weight, for one backend.
func serverWeights(t *testing.T, socket, backend string) map[string]int {
	t.Helper()
	reply, err := socketReply(t, socket, "@1 show servers state "+backend)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var col map[string]int
	for _, line := range strings.Split(string(reply), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "#":
			col = map[string]int{}
			for i, name := range f[1:] {
				col[name] = i
			}
		case col != nil && len(f) > col["srv_uweight"]:
			w, _ := strconv.Atoi(f[col["srv_uweight"]])
			out[f[col["srv_name"]]] = w
		}
	}
	return out
}

// holdConn connects through port until the server called name answers,
// and keeps that connection open until the test ends.
func holdConn(t *testing.T, port int, name string) *backendtest.HeldConn {
	t.Helper()
	var err error
	for range 50 {
		var c *backendtest.HeldConn
		var got string
		if c, got, err = backendtest.DialNamed(port, time.Minute); err == nil && got == name {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if c != nil {
			c.Close()
		}
	}
	t.Fatalf("no connection through port %d reached %s in 50 tries (last error %v)", port, name, err)
	return nil
}

// Against a real haproxy: a suspect member drains (weight 0) without a
// reload, a reload from the file keeps it drained, a refutation brings it
// back without a reload; then a member that leaves drains, keeping its
// sessions, while one that fails is removed with its sessions shut at once.
func TestRunner_SuspectDrainsWithRealHAProxy(t *testing.T) {
	lb, web1, web2, web3, _ := threeWebs(t)
	base := snapshot("lb1", 1, lb, web1, web2, web3)
	f := newHAProxyFixture(t, base)
	f.waitServedBy(f.port, "two")

	st := f.set(withStatus(base, 2, node.StatusSuspect, "web2"))
	if st.Applied != 1 || st.Reloads != 0 || f.reloads() != 0 {
		t.Fatalf("after web2 became suspect: applied %d reloads %d, master reloads %d; want 1 0 0", st.Applied, st.Reloads, f.reloads())
	}
	notServedBy := func(when, name string) {
		t.Helper()
		for range 12 {
			if got, err := backendtest.AskName(f.port); err != nil || got == name {
				t.Fatalf("%s: served by %q (%v), want anyone but %s", when, got, err, name)
			}
		}
	}
	notServedBy("web2 suspect", "two")
	if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); w["web2"] != 0 || w["web1"] != 1 {
		t.Fatalf("web2 suspect: weights %v, want web2 0 and web1 1", w)
	}
	// What a reload loads from the file is the same drained state.
	if err := f.be.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v\n%s", err, f.hx.Output())
	}
	notServedBy("web2 suspect, after a reload", "two")
	if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); w["web2"] != 0 {
		t.Fatalf("after a reload: weights %v, want web2 still 0", w)
	}
	reloads := f.reloads()

	st = f.set(withStatus(base, 3, node.StatusAlive, "web2"))
	if st.Applied != 2 || f.reloads() != reloads {
		t.Fatalf("after web2 refuted: applied %d, master reloads %d; want 2 and %d", st.Applied, f.reloads(), reloads)
	}
	f.waitServedBy(f.port, "two")

	// Leave versus failure, each with a session open.
	toTwo, toThree := holdConn(t, f.port, "two"), holdConn(t, f.port, "three")
	left := withStatus(base, 4, node.StatusLeft, "web3")
	st = f.set(left)
	if err := toThree.Echo(time.Minute); err != nil {
		t.Fatalf("web3 left: its session: %v; want it to drain, still open", err)
	}
	notServedBy("web3 left", "three")
	st = f.set(withStatus(left, 5, node.StatusFailed, "web2"))
	if st.Applied != 4 || f.reloads() != reloads {
		t.Fatalf("after web3 left and web2 failed: applied %d, master reloads %d; want 4 and %d", st.Applied, f.reloads(), reloads)
	}
	if err := toTwo.Echo(time.Minute); err == nil {
		t.Fatal("web2 failed: its session still carries data; want it shut")
	}
	testutil.WaitFor(t, time.Minute, func() error {
		if w := serverWeights(t, f.hx.MasterSocket, "svc_web"); len(w) != 2 {
			return fmt.Errorf("servers %v, want web1 and the draining web3", w)
		}
		return nil
	})
	if err := toThree.Echo(time.Minute); err != nil {
		t.Fatalf("web3's draining session after web2 failed: %v", err)
	}
}
