package render

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/debounce/debouncetest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// localMember is an alive member on 127.0.0.1 offering services whose
// ports are those of the given addresses.
func localMember(t *testing.T, name string, i int, services map[string]string) node.Member {
	t.Helper()
	m := member(name, i)
	m.Addr = net.IPv4(127, 0, 0, 1)
	for svcName, addr := range services {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		m.Services = append(m.Services, svc(svcName, uint16(port), 1))
	}
	return m
}

// threeWebs starts servers named one, two and three (at addrs) and returns
// a load balancer member lb1 and members web1, web2 and web3 offering
// service web on them.
func threeWebs(t *testing.T) (lb, web1, web2, web3 node.Member, addrs [3]string) {
	t.Helper()
	for i, name := range []string{"one", "two", "three"} {
		addrs[i] = backendtest.NamedTCPServer(t, name)
	}
	lb = localMember(t, "lb1", 1, nil)
	web1 = localMember(t, "web1", 11, map[string]string{"web": addrs[0]})
	web2 = localMember(t, "web2", 12, map[string]string{"web": addrs[1]})
	web3 = localMember(t, "web3", 13, map[string]string{"web": addrs[2]})
	return lb, web1, web2, web3, addrs
}

// haproxyFixture is the built-in template rendered for a real haproxy that
// runs the first render.
type haproxyFixture struct {
	t    *testing.T
	src  *fakeSource
	clk  *debouncetest.FakeClock
	r    *Runner
	be   *backends.HAProxy
	hx   *backendtest.HAProxyProcess
	dest string
	vars map[string]string
	port int // svc_web's frontend
	base backends.HAProxyStatus
}

// startBuiltinHAProxy starts haproxy on the built-in template rendered
// for first with vars, written to dest, as after a restart of shoal: the
// runner's first render then changes nothing.
func startBuiltinHAProxy(t *testing.T, first *node.Snapshot, vars map[string]string, dest string) *backendtest.HAProxyProcess {
	t.Helper()
	tmpl, err := ParseTemplate("builtin:haproxy")
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(first)
	d.Vars = vars
	content, _, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return backendtest.StartHAProxy(t, dest)
}

func newHAProxyFixture(t *testing.T, first *node.Snapshot) *haproxyFixture {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (run .ci/setup)")
	}
	f := &haproxyFixture{t: t, src: newFakeSource(first), clk: debouncetest.NewFakeClock(), port: backendtest.FreePort(t)}
	f.vars = map[string]string{"bind": "127.0.0.1", "listen.web": strconv.Itoa(f.port), "listen.api": strconv.Itoa(backendtest.FreePort(t))}
	f.dest = filepath.Join(t.TempDir(), "haproxy.cfg")
	f.vars["server_state_file"] = filepath.Join(filepath.Dir(f.dest), "server-state")

	f.hx = startBuiltinHAProxy(t, first, f.vars, f.dest)
	var err error
	f.be, err = backends.NewHAProxy(backends.HAProxyConfig{MasterSocket: f.hx.MasterSocket})
	if err != nil {
		t.Fatal(err)
	}
	f.r, err = New(Config{
		Source: f.src, Clock: f.clk,
		Templates: []TemplateConfig{{Name: "lb", Source: "builtin:haproxy", Destination: f.dest, Backend: f.be, Vars: f.vars}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, f.r)
	f.base = f.proc()
	return f
}

func (f *haproxyFixture) proc() backends.HAProxyStatus {
	f.t.Helper()
	return f.hx.Status(f.t)
}

// set renders snap and waits for the runner to finish with it.
func (f *haproxyFixture) set(snap *node.Snapshot) TemplateStatus {
	f.t.Helper()
	f.src.Set(snap)
	f.r.waitIdle()
	st := statusOf(f.t, f.r, "lb")
	if !st.OK {
		f.t.Fatalf("render failed: %s\nhaproxy output:\n%s", st.Error, f.hx.Output())
	}
	return st
}

// reloads is how many times the master reloaded since the fixture started.
func (f *haproxyFixture) reloads() int { return f.proc().Reloads - f.base.Reloads }

func (f *haproxyFixture) waitServedBy(port int, name string) {
	f.t.Helper()
	testutil.WaitFor(f.t, time.Minute, func() error {
		got, err := backendtest.AskName(port)
		if err != nil {
			return err
		}
		if got != name {
			return fmt.Errorf("served by %q, want %q among the answers", got, name)
		}
		return nil
	})
}

// Membership changes reach haproxy through the Runtime API: joins and
// leaves are installed and applied with no reload, a new service (a new
// listen section) reloads, and drift made behind shoal's back is repaired
// at the next reconcile.
func TestRunner_RuntimeApplyWithRealHAProxy(t *testing.T) {
	lb, web1, web2, web3, addrs := threeWebs(t)
	one, three := addrs[0], addrs[2]
	f := newHAProxyFixture(t, snapshot("lb1", 1, lb, web1, web2))
	f.waitServedBy(f.port, "one")
	if st := statusOf(t, f.r, "lb"); st.Installs != 0 || st.Reloads != 0 {
		t.Fatalf("first render: %+v, want the running file kept, no reload", st)
	}

	st := f.set(snapshot("lb1", 2, lb, web1, web2, web3))
	if st.Installs != 1 || st.Applied != 1 || st.Reloads != 0 || f.reloads() != 0 {
		t.Fatalf("after web3 joined: installs %d applied %d reloads %d, master reloads %d; want 1 1 0 0", st.Installs, st.Applied, st.Reloads, f.reloads())
	}
	f.waitServedBy(f.port, "three")

	st = f.set(snapshot("lb1", 3, lb, web2, web3))
	if st.Applied != 2 || st.Reloads != 0 || f.reloads() != 0 {
		t.Fatalf("after web1 left: applied %d reloads %d, master reloads %d; want 2 0 0", st.Applied, st.Reloads, f.reloads())
	}
	for range 10 {
		if got, err := backendtest.AskName(f.port); err != nil || got == "one" {
			t.Fatalf("after web1 left: served by %q (%v), want two or three", got, err)
		}
	}
	if len(f.proc().Workers) != 1 {
		t.Errorf("workers %v, want one: no reload happened", f.proc().WorkerPIDs())
	}

	// A second service is a new listen section: structure, so a reload.
	web3api := localMember(t, "web3", 13, map[string]string{"web": three, "api": one})
	st = f.set(snapshot("lb1", 4, lb, web2, web3api))
	if st.Reloads != 1 || st.Applied != 2 || f.reloads() != 1 {
		t.Fatalf("after a new service: applied %d reloads %d, master reloads %d; want 2 1 1", st.Applied, st.Reloads, f.reloads())
	}
	if rs := f.be.RuntimeStats(); rs.FallbackReasons[backends.FallbackStructure] != 1 {
		t.Errorf("runtime stats %+v: want one structure fallback", rs)
	}
	apiPort, _ := strconv.Atoi(f.vars["listen.api"])
	f.waitServedBy(apiPort, "one")

	// Drift behind shoal's back: the periodic reconcile repairs it.
	socketSend(t, f.hx.MasterSocket, "@1 set server svc_web/web2 state maint")
	f.clk.Advance(backends.DefaultReconcileInterval)
	f.r.waitIdle()
	if rs := f.be.RuntimeStats(); rs.DriftRepairs != 1 || !strings.Contains(rs.LastDrift, "svc_web/web2") {
		t.Fatalf("after the reconcile: runtime stats %+v, want one drift repair naming svc_web/web2", rs)
	}
	if f.reloads() != 2 {
		t.Errorf("master reloads %d, want 2 (the repair)", f.reloads())
	}
	f.waitServedBy(f.port, "two")
}

// socketSend sends one command to an HAProxy CLI socket and fails the test
// unless the reply is empty (success for "set" commands).
func socketSend(t *testing.T, socket, command string) {
	t.Helper()
	reply, err := socketReply(t, socket, command)
	if err != nil || strings.TrimSpace(string(reply)) != "" {
		t.Fatalf("%s: reply %q, %v", command, reply, err)
	}
}

// socketReply sends one command to an HAProxy CLI socket and reads the
// reply to its end; a socket that cannot be reached fails the test.
func socketReply(t *testing.T, socket, command string) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	io.WriteString(c, command+"\n")
	c.(*net.UnixConn).CloseWrite()
	return io.ReadAll(c)
}
