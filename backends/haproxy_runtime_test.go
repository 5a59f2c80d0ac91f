package backends_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// Adding, removing, reweighting, moving and disabling servers all go
// through the Runtime API: the master never reloads, traffic follows each
// change, and "show servers state" agrees with the file after each step.
func TestHAProxyRuntime_ServerChangesWithoutReload(t *testing.T) {
	t.Parallel()
	one, two, three, four := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two"), backendtest.NamedTCPServer(t, "three"), backendtest.NamedTCPServer(t, "four")
	servers := []srv{{name: "a", addr: one, weight: 1}, {name: "b", addr: two, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { return rtConfig(p, "roundrobin", servers, "") })
	r.waitServes("one")
	r.assertState(servers)
	step := func(what string, next []srv) {
		t.Helper()
		servers = next
		r.mustApply(rtConfig(r.port, "roundrobin", servers, ""))
		r.assertNoReload()
		r.assertState(servers)
		t.Logf("%s: applied without a reload", what)
	}

	step("add c", []srv{servers[0], servers[1], {name: "c", addr: three, weight: 1}})
	r.waitServes("three")

	step("remove a", servers[1:])
	if got := served(t, r.port, 20); got["one"] > 0 {
		t.Fatalf("after removing a: answers %v, want none from one", got)
	}

	step("weight of b to 0", []srv{{name: "b", addr: two, weight: 0}, servers[1]})
	if got := served(t, r.port, 20); got["two"] > 0 || got["three"] != 20 {
		t.Fatalf("after b's weight 0: answers %v, want all 20 from three", got)
	}

	step("move c to four, b back to weight 3", []srv{{name: "b", addr: two, weight: 3}, {name: "c", addr: four, weight: 1}})
	r.waitServes("four")
	if got := served(t, r.port, 20); got["three"] > 0 {
		t.Fatalf("after moving c: answers %v, want none from three", got)
	}

	step("disable b", []srv{{name: "b", addr: two, weight: 3, disabled: true}, servers[1]})
	if got := served(t, r.port, 20); got["two"] > 0 {
		t.Fatalf("with b disabled: answers %v, want none from two", got)
	}

	step("re-add a, enable b", []srv{{name: "a", addr: one, weight: 2}, {name: "b", addr: two, weight: 3}, servers[1]})
	r.waitServes("one")
	r.waitServes("two")

	st := r.h.RuntimeStats()
	if st.Applies != 6 || st.Fallbacks != 0 || st.Reloads != 0 || st.ServersAdded != 2 || st.ServersRemoved != 1 {
		t.Errorf("stats %+v: want 6 applies, 2 added, 1 removed, no fallback, no reload", st)
	}
}

// A new listen section is structure: Apply declines and the reload brings
// it up.
func TestHAProxyRuntime_StructuralChangeReloads(t *testing.T) {
	t.Parallel()
	one := backendtest.NamedTCPServer(t, "one")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { return rtConfig(p, "roundrobin", servers, "") })
	r.waitServes("one")

	extra := fmt.Sprintf("listen svc_api\n    bind 127.0.0.1:%d\n    server x %s\n", backendtest.FreePort(t), one)
	applied, err := r.change(rtConfig(r.port, "roundrobin", servers, extra))
	var fe *backends.FallbackError
	if applied || !errors.As(err, &fe) || fe.Reason != backends.FallbackStructure {
		t.Fatalf("Apply(new listen section) = %v, %v; want false with reason %q", applied, err, backends.FallbackStructure)
	}
	if st := r.status(); st.Reloads != r.start.Reloads+1 {
		t.Errorf("master reloads %d, want %d", st.Reloads, r.start.Reloads+1)
	}
	st := r.h.RuntimeStats()
	if st.Fallbacks != 1 || st.FallbackReasons[backends.FallbackStructure] != 1 || !strings.Contains(st.LastFallback, "svc_api") {
		t.Errorf("stats %+v: want one structure fallback naming svc_api", st)
	}
}

// static-rr cannot take dynamic servers: HAProxy refuses "add server", and
// the change falls back to a reload that loads the new server from the
// file.
func TestHAProxyRuntime_RefusedCommandFallsBackToReload(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { return rtConfig(p, "static-rr", servers, "") })
	r.waitServes("one")

	servers = append(servers, srv{name: "b", addr: two, weight: 1})
	applied, err := r.change(rtConfig(r.port, "static-rr", servers, ""))
	var fe *backends.FallbackError
	if applied || !errors.As(err, &fe) || fe.Reason != backends.FallbackRefused || !strings.Contains(err.Error(), "dynamic load balancing") {
		t.Fatalf("Apply(add to static-rr) = %v, %v; want false, refused with HAProxy's reason", applied, err)
	}
	if st := r.status(); st.Reloads != r.start.Reloads+1 {
		t.Errorf("master reloads %d, want %d", st.Reloads, r.start.Reloads+1)
	}
	r.waitServes("two")
	testutil.WaitFor(t, waitTimeout, func() error { return r.stateDiff(servers) })
}

// Changes made behind shoal's back are found by Reconcile and repaired with
// a reload; a reconcile that finds nothing does nothing.
func TestHAProxyRuntime_ReconcileRepairsDrift(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	servers := []srv{{name: "a", addr: one, weight: 1}, {name: "b", addr: two, weight: 1}}
	var content string
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { content = rtConfig(p, "roundrobin", servers, ""); return content })
	r.waitServes("two")

	if drift, err := r.h.Reconcile(context.Background(), []byte(content)); drift != "" || err != nil {
		t.Fatalf("Reconcile with nothing changed = %q, %v; want no drift", drift, err)
	}
	r.assertNoReload()

	for i, sabotage := range [][]string{
		{"set server svc_web/b state maint"},
		{"set server svc_web/a weight 7"},
		{"set server svc_web/b state maint", "del server svc_web/b"},
	} {
		for _, cmd := range sabotage {
			if reply := strings.TrimSpace(cliCommand(t, r.hx.MasterSocket, "@1 "+cmd)); reply != "" && reply != "Server deleted." {
				t.Fatalf("%s: %q", cmd, reply)
			}
		}
		if r.stateDiff(servers) == nil {
			t.Fatalf("after %q the state still agrees with the file", sabotage)
		}
		drift, err := r.h.Reconcile(context.Background(), []byte(content))
		if err != nil || drift == "" {
			t.Fatalf("Reconcile after %q = %q, %v; want the drift found and repaired", sabotage, drift, err)
		}
		t.Logf("drift found: %s", drift)
		if st := r.status(); st.Reloads != r.start.Reloads+i+1 {
			t.Errorf("master reloads %d, want %d", st.Reloads, r.start.Reloads+i+1)
		}
		r.assertState(servers)
		if st := r.h.RuntimeStats(); st.DriftRepairs != uint64(i+1) {
			t.Errorf("drift repairs %d, want %d", st.DriftRepairs, i+1)
		}
	}

	// A server deleted behind shoal's back: the next change notices the
	// drift before touching anything, and reloads.
	cliCommand(t, r.hx.MasterSocket, "@1 set server svc_web/b state maint")
	if reply := cliCommand(t, r.hx.MasterSocket, "@1 del server svc_web/b"); !strings.Contains(reply, "Server deleted") {
		t.Fatalf("del server: %q", reply)
	}
	servers[0].weight = 2
	applied, err := r.change(rtConfig(r.port, "roundrobin", servers, ""))
	var fe *backends.FallbackError
	if applied || !errors.As(err, &fe) || fe.Reason != backends.FallbackDrift {
		t.Fatalf("Apply after del server behind shoal's back = %v, %v; want a drift fallback", applied, err)
	}
	r.assertState(servers)
}

// A removed server with an open connection drains: the connection lives on
// while new ones go elsewhere; once it closes, Reconcile deletes the
// server. A drain that outlives the drain timeout has its sessions shut.
func TestHAProxyRuntime_RemovalDrainsThenDeletes(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{DrainTimeout: waitTimeout}, func(p int) string { return rtConfig(p, "roundrobin", servers, "") })
	r.waitServes("one")
	conn := longLived(t, r.port, "one")

	servers = []srv{{name: "b", addr: two, weight: 1}}
	r.mustApply(rtConfig(r.port, "roundrobin", servers, ""))
	r.assertNoReload()
	if got := served(t, r.port, 10); got["two"] != 10 {
		t.Fatalf("with a draining: answers %v, want all from two", got)
	}
	if row, ok := r.serversState()["a"]; !ok || row.admin&0x08 == 0 {
		t.Fatalf("a's state %+v (listed %t), want it listed and draining (0x08)", row, ok)
	}
	if st := r.h.RuntimeStats(); st.Draining != 1 {
		t.Errorf("stats: %d draining, want 1", st.Draining)
	}
	if err := conn.Echo(waitTimeout); err != nil {
		t.Fatalf("the draining server's connection: %v", err)
	}
	content := []byte(rtConfig(r.port, "roundrobin", servers, ""))
	if drift, err := r.h.Reconcile(context.Background(), content); drift != "" || err != nil {
		t.Fatalf("Reconcile while a drains = %q, %v; want no drift", drift, err)
	}
	if err := conn.Echo(waitTimeout); err != nil {
		t.Fatalf("the draining server's connection after a reconcile: %v", err)
	}

	conn.Close()
	testutil.WaitFor(t, waitTimeout, func() error {
		if _, err := r.h.Reconcile(context.Background(), content); err != nil {
			return err
		}
		return r.stateDiff(servers)
	})
	r.assertNoReload()
	if st := r.h.RuntimeStats(); st.Draining != 0 || st.ServersRemoved != 1 {
		t.Errorf("stats %+v: want nothing draining and one server removed", st)
	}
}

// A server whose member failed (the renderer's hint) is shut at once,
// sessions and all, where one that left would drain.
func TestHAProxyRuntime_FailedServerIsShutAtOnce(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{DrainTimeout: time.Hour}, func(p int) string { return rtConfig(p, "roundrobin", servers, "") })
	r.waitServes("one")
	conn := longLived(t, r.port, "one")

	servers = []srv{{name: "b", addr: two, weight: 1}}
	hints := backends.ApplyHints{Failed: []netip.AddrPort{netip.MustParseAddrPort(one)}}
	if applied, err := r.changeWith(rtConfig(r.port, "roundrobin", servers, ""), hints); !applied {
		t.Fatalf("Apply = false (%v), want the removal made at runtime", err)
	}
	r.assertNoReload()
	if err := conn.Echo(waitTimeout); err == nil {
		t.Fatal("the failed server's session still carries data; want it shut")
	}
	if err := r.stateDiff(servers); err != nil {
		t.Fatalf("right after the apply: %v; want a deleted, not draining", err)
	}
	if st := r.h.RuntimeStats(); st.Draining != 0 || st.ServersRemoved != 1 {
		t.Errorf("stats %+v: want nothing draining and one server removed", st)
	}
}

func TestHAProxyRuntime_DrainTimeoutShutsSessions(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{DrainTimeout: 1}, func(p int) string { return rtConfig(p, "roundrobin", servers, "") })
	r.waitServes("one")
	conn := longLived(t, r.port, "one")

	servers = []srv{{name: "b", addr: two, weight: 1}}
	r.mustApply(rtConfig(r.port, "roundrobin", servers, ""))
	content := []byte(rtConfig(r.port, "roundrobin", servers, ""))
	testutil.WaitFor(t, waitTimeout, func() error {
		if _, err := r.h.Reconcile(context.Background(), content); err != nil {
			return err
		}
		return r.stateDiff(servers)
	})
	if err := conn.Echo(waitTimeout); err == nil {
		t.Fatal("the connection to the removed server is still open after the drain timeout")
	}
	r.assertNoReload()
}

// longLived connects through port, where want must answer, and keeps the
// connection open until the test ends.
func longLived(t *testing.T, port int, want string) *backendtest.HeldConn {
	t.Helper()
	c, got, err := backendtest.DialNamed(port, waitTimeout)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil || got != want {
		t.Fatalf("long-lived connection greeted by %q (%v), want %q", got, err, want)
	}
	return c
}

// trackedConfig is rtConfig with server c plus, when present, n pairs of a
// checked server t<i> and a server u<i> tracking it.
func trackedConfig(port int, cAddr, tAddr string, n int, present bool) string {
	var extra strings.Builder
	for i := range n {
		if present {
			fmt.Fprintf(&extra, "    server t%d %s check\n    server u%d %s track svc_web/t%d\n", i, tAddr, i, tAddr, i)
		}
	}
	return strings.Replace(rtConfig(port, "roundrobin", []srv{{name: "c", addr: cAddr, weight: 1}}, ""),
		"    server c", extra.String()+"    server c", 1)
}

// HAProxy 2.6 never deletes a server that the configuration it loaded has
// another server track, even once the tracker is deleted: removing the
// pair leaves the tracked one as a pinned ghost in maintenance, which
// reconciles leave alone and a rejoin revives, all without a reload.
func TestHAProxyRuntime_TrackedServerStaysAGhost(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { return trackedConfig(p, two, one, 1, true) })
	r.waitServes("one")

	without := trackedConfig(r.port, two, one, 1, false)
	r.mustApply(without)
	rows := r.serversState()
	if row, ok := rows["t0"]; !ok || row.admin&1 == 0 {
		t.Fatalf("t0 after its removal: %+v (listed %t), want a ghost in maintenance", row, ok)
	}
	if _, ok := rows["u0"]; ok {
		t.Fatal("u0, which tracked t0, is still listed")
	}
	if st := r.h.RuntimeStats(); st.Ghosts != 1 {
		t.Fatalf("stats %+v, want 1 ghost", st)
	}
	for range 10 {
		if got, err := backendtest.AskName(r.port); err != nil || got != "two" {
			t.Fatalf("with a ghost: served by %q (%v), want two", got, err)
		}
	}
	if drift, err := r.h.Reconcile(context.Background(), []byte(without)); drift != "" || err != nil {
		t.Fatalf("Reconcile = %q, %v; want the pinned ghost accepted", drift, err)
	}
	if next := r.h.NextReconcile(); next != backends.DefaultReconcileInterval {
		t.Errorf("NextReconcile with only a pinned ghost = %s, want the interval %s", next, backends.DefaultReconcileInterval)
	}

	r.mustApply(trackedConfig(r.port, two, one, 1, true))
	r.assertNoReload()
	if st := r.h.RuntimeStats(); st.Ghosts != 0 {
		t.Fatalf("stats %+v after t0 came back, want no ghost", st)
	}
	r.waitServes("one")
}

// More pinned ghosts than the backend keeps: the reconcile reloads, which
// clears them.
func TestHAProxyRuntime_TooManyGhostsReload(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	const pairs = 17
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string { return trackedConfig(p, two, one, pairs, true) })
	r.waitServes("one")
	without := trackedConfig(r.port, two, one, pairs, false)
	r.mustApply(without)
	if st := r.h.RuntimeStats(); st.Ghosts != pairs {
		t.Fatalf("stats %+v, want %d ghosts", st, pairs)
	}
	drift, err := r.h.Reconcile(context.Background(), []byte(without))
	if err != nil || !strings.Contains(drift, "could not be deleted") {
		t.Fatalf("Reconcile = %q, %v; want a reload for the ghosts", drift, err)
	}
	if st := r.status(); st.Reloads != r.start.Reloads+1 {
		t.Errorf("master reloads %d, want %d", st.Reloads, r.start.Reloads+1)
	}
	r.assertState([]srv{{name: "c", addr: two, weight: 1}})
	if st := r.h.RuntimeStats(); st.Ghosts != 0 || st.FallbackReasons[backends.FallbackGhosts] != 1 {
		t.Errorf("stats %+v, want no ghost left and one ghosts fallback", st)
	}
}

// With a stats socket configured, runtime commands go there instead of
// through the master CLI.
func TestHAProxyRuntime_ThroughStatsSocket(t *testing.T) {
	t.Parallel()
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	stats := filepath.Join(backendtest.ShortTempDir(t), "stats.sock")
	cfg := func(port int, servers []srv) string {
		return strings.Replace(rtConfig(port, "roundrobin", servers, ""), "global\n", "global\n    stats socket "+stats+" level admin\n", 1)
	}
	servers := []srv{{name: "a", addr: one, weight: 1}}
	r := newRig(t, backends.HAProxyConfig{StatsSocket: stats}, func(p int) string { return cfg(p, servers) })
	r.waitServes("one")

	servers = []srv{{name: "b", addr: two, weight: 4}}
	r.mustApply(cfg(r.port, servers))
	r.assertNoReload()
	r.assertState(servers)
	r.waitServes("two")
	if st := r.h.RuntimeStats(); st.ServersAdded != 1 || st.ServersRemoved != 1 {
		t.Errorf("stats %+v, want one server added and one removed", st)
	}
}
