//go:build linux

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHarness_NetLinksAndCleanup checks the harness itself, without shoal:
// hosts reach each other over the bridge, a link can be cut and healed,
// packet loss can be set and cleared, and Close leaves nothing behind.
func TestHarness_NetLinksAndCleanup(t *testing.T) {
	needNetns(t)
	n, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	dir := t.TempDir()
	a, err := n.AddHost("a", 11, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddHost("b", 12, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start("backend", nil, bins.Tool, "serve", "-addr", fmt.Sprintf(":%d", BackendPort), "-name", "b"); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d/", b.IP, BackendPort)
	ping := func() error {
		_, err := a.Load(bins.Tool, url, "-n", "1", "-c", "1", "-timeout", "1s")
		if err == nil {
			r, _ := a.Load(bins.Tool, url, "-n", "1", "-c", "1", "-timeout", "1s")
			if r.OK != 1 {
				return fmt.Errorf("b did not answer: %+v", r)
			}
		}
		return err
	}
	WaitFor(t, 10*time.Second, ping)

	// No route leaves the subnet: nothing reaches beyond the bridge.
	routes, err := a.Exec(context.Background(), nil, "ip", "route", "show")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(routes, "default") {
		t.Fatalf("host has a default route: %s", routes)
	}

	if err := b.SetLink(false); err != nil {
		t.Fatal(err)
	}
	if ping() == nil {
		t.Fatal("ping crossed a downed link")
	}
	if err := b.SetLink(true); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, ping)

	if err := a.SetLoss(100); err != nil {
		t.Fatal(err)
	}
	if ping() == nil {
		t.Fatal("ping crossed 100% loss")
	}
	if err := a.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, ping)

	p, err := a.Start("sleeper", nil, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(10 * time.Second); err == nil || !p.Exited() {
		t.Fatalf("process survived Close: %v", err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.prefix) {
		t.Fatalf("namespaces left after Close:\n%s", out)
	}
}

// TestHarness_HAProxySeamlessReload runs the backends and haproxy with a
// hand-written config (no shoal): every host answers through haproxy, and
// reloads under load lose no request. It proves the harness and the
// load-balancer side before the agent is involved.
func TestHarness_HAProxySeamlessReload(t *testing.T) {
	needNetns(t)
	if err := HAProxyAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	lb, hp := startHandWrittenHAProxy(t)
	url := "http://127.0.0.1:80/"
	// Every host answers through haproxy.
	WaitFor(t, 20*time.Second, func() error {
		r, err := lb.Load(bins.Tool, url, "-n", "30", "-c", "3")
		if err != nil {
			return err
		}
		if len(r.Backends) != 3 || r.Failed > 0 {
			return fmt.Errorf("got answers %v and %d failures, want all 3 hosts and none failed", r.Backends, r.Failed)
		}
		return nil
	})
	checkReloadsUnderLoad(t, lb, hp, url)
	checkDrainStopsRouting(t, hp)
}

// startHandWrittenHAProxy starts three backend hosts h1..h3 and, on host
// lb, haproxy with a hand-written config that balances port 80 over them.
func startHandWrittenHAProxy(t *testing.T) (*Host, *HAProxy) {
	t.Helper()
	n, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	dir := t.TempDir()
	var servers []string
	for i := 1; i <= 3; i++ {
		h, err := n.AddHost(fmt.Sprintf("h%d", i), 10+i, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Start("backend", nil, bins.Tool, "serve", "-addr", fmt.Sprintf(":%d", BackendPort), "-name", h.Name); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, fmt.Sprintf("  server %s %s:%d check inter 500ms", h.Name, h.IP, BackendPort))
	}
	lb, err := n.AddHost("lb", LBIndex, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	conf := "global\n  maxconn 1000\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n" +
		"frontend web\n  bind :80\n  default_backend web\nbackend web\n  balance roundrobin\n" + strings.Join(servers, "\n") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	hp, err := lb.StartHAProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return lb, hp
}

// checkReloadsUnderLoad reloads haproxy five times while lb sends
// requests to url, and checks that none failed.
func checkReloadsUnderLoad(t *testing.T, lb *Host, hp *HAProxy, url string) {
	t.Helper()
	load, err := lb.StartLoad("load", bins.Tool, url, "-c", "4", "-duration", "60s")
	if err != nil {
		t.Fatal(err)
	}
	const reloads = 5
	for i := 0; i < reloads; i++ {
		start := time.Now()
		if err := hp.Reload(); err != nil {
			t.Fatal(err)
		}
		t.Logf("reload %d took %s", i+1, time.Since(start))
	}
	r, err := load.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reloads under load: %d ok, %d failed", reloads, r.OK, r.Failed)
	if r.Failed > 0 || r.OK == 0 {
		t.Fatalf("got %d failed and %d ok requests across reloads, want 0 failed: %v", r.Failed, r.OK, r.Errors)
	}
}

// checkDrainStopsRouting checks what the scenarios read of the running
// worker: a server put in drain through the master CLI is no longer
// routed to.
func checkDrainStopsRouting(t *testing.T, hp *HAProxy) {
	t.Helper()
	routed := func() string {
		live, err := hp.ServersState()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(RoutableServers(live, "web"), ",")
	}
	if got := routed(); got != "h1,h2,h3" {
		t.Fatalf("show servers state: routable servers %s, want h1,h2,h3", got)
	}
	if out, err := hp.Command("@1 set server web/h2 state drain"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("set server web/h2 state drain: %q, %v", out, err)
	}
	if got := routed(); got != "h1,h3" {
		t.Fatalf("show servers state after draining h2: routable servers %s, want h1,h3", got)
	}
}
