package backends_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// waitTimeout is how long a test waits for a condition that should hold
// almost at once: long enough for a loaded machine running -race.
const waitTimeout = 20 * time.Second

// haproxyConfig returns an HAProxy configuration that serves HTTP on
// 127.0.0.1:port from server, plus a listener on each extra port.
func haproxyConfig(port int, server string, extraPorts ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:%d
    default_backend pool
backend pool
    server s1 %s
`, port, server)
	for i, extra := range extraPorts {
		fmt.Fprintf(&b, "frontend extra%d\n    bind 127.0.0.1:%d\n    default_backend pool\n", i, extra)
	}
	return b.String()
}

// namedServer starts an HTTP server on 127.0.0.1 that answers with name.
func namedServer(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// get fetches http://127.0.0.1:port/ on a new connection each time, so
// that each request reaches whichever worker accepts now rather than the
// one that accepted a kept-alive connection.
func get(port int) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s, body %q", resp.Status, body)
	}
	return string(body), nil
}

// waitServedBy waits until a request to port is answered by want.
func waitServedBy(t *testing.T, port int, want string) {
	t.Helper()
	testutil.WaitFor(t, waitTimeout, func() error {
		got, err := get(port)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("served by %q, want %q", got, want)
		}
		return nil
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// retryTextBusy runs f again while exec says "text file busy": a script
// the test just wrote can still be open for writing in a child that a
// parallel test forked and that has not exec'd yet (Go issue 22315).
func retryTextBusy(t *testing.T, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil || !strings.Contains(err.Error(), "text file busy") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond) // retry interval after an exec race, not synchronisation
	}
}

func newHAProxy(t *testing.T, cfg backends.HAProxyConfig) *backends.HAProxy {
	t.Helper()
	h, err := backends.NewHAProxy(cfg)
	if err != nil {
		t.Fatalf("NewHAProxy: %v", err)
	}
	return h
}

func TestHAProxy_ValidateAcceptsGoodConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, haproxyConfig(backendtest.FreePort(t), "127.0.0.1:1"))
	h := newHAProxy(t, backends.HAProxyConfig{ReloadCommand: []string{"true"}})
	if err := h.Validate(context.Background(), path); err != nil {
		t.Fatalf("Validate(good config) = %v, want nil", err)
	}
}

func TestHAProxy_ValidateRejectsBadConfigWithHAProxysMessage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, haproxyConfig(backendtest.FreePort(t), "127.0.0.1:1")+"    bogus_keyword 1\n")
	h := newHAProxy(t, backends.HAProxyConfig{ReloadCommand: []string{"true"}})
	err := h.Validate(context.Background(), path)
	if err == nil {
		t.Fatal("Validate(bad config) = nil, want an error")
	}
	for _, want := range []string{"haproxy -c -f", "exit status 1", "unknown keyword 'bogus_keyword'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// haproxyServingOne is a running haproxy, with its config at path, that serves
// port from a server named "one"; two is a second server, named "two", for
// a test to reload to, and before haproxy's status ahead of any reload.
type haproxyServingOne struct {
	hx        *backendtest.HAProxyProcess
	port      int
	path, two string
	before    backends.HAProxyStatus
}

func startHAProxyServingOne(t *testing.T) haproxyServingOne {
	t.Helper()
	one, two := namedServer(t, "one"), namedServer(t, "two")
	port := backendtest.FreePort(t)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, haproxyConfig(port, one))
	hx := backendtest.StartHAProxy(t, path)
	waitServedBy(t, port, "one")
	return haproxyServingOne{hx: hx, port: port, path: path, two: two, before: hx.Status(t)}
}

func TestHAProxy_ReloadSwitchesBackend(t *testing.T) {
	t.Parallel()
	f := startHAProxyServingOne(t)
	hx, port, path, two, before := f.hx, f.port, f.path, f.two, f.before

	writeFile(t, path, haproxyConfig(port, two))
	if err := hx.Backend.Validate(context.Background(), path); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := hx.Backend.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v\nhaproxy output:\n%s", err, hx.Output())
	}

	after, err := hx.Backend.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.MasterPID != before.MasterPID {
		t.Errorf("master PID %d after reload, want %d (the same master)", after.MasterPID, before.MasterPID)
	}
	if after.Reloads != before.Reloads+1 || after.FailedReloads != 0 {
		t.Errorf("after reload: reloads %d failed %d, want %d failed 0", after.Reloads, after.FailedReloads, before.Reloads+1)
	}
	// The old worker may still be listed while it finishes; the reload is
	// over when requests on new connections reach the new backend.
	waitServedBy(t, port, "two")
}

func TestHAProxy_ReloadThatCannotStartIsReportedAndOldWorkerServes(t *testing.T) {
	t.Parallel()
	f := startHAProxyServingOne(t)
	hx, port, path, two, before := f.hx, f.port, f.path, f.two, f.before

	// A port held by someone else: "haproxy -c" does not bind, so it passes
	// the check, and the new master fails to start it.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	writeFile(t, path, haproxyConfig(port, two, taken.Addr().(*net.TCPAddr).Port))
	if err := hx.Backend.Validate(context.Background(), path); err != nil {
		t.Fatalf("Validate(config with a taken port) = %v, want nil: the check must not bind", err)
	}

	start := time.Now()
	err = hx.Backend.Reload(context.Background())
	t.Logf("failed reload took %s", time.Since(start))
	if err == nil || !strings.Contains(err.Error(), "could not start the new configuration") {
		t.Fatalf("Reload = %v, want a failed-reload error\nhaproxy output:\n%s", err, hx.Output())
	}
	after, err := hx.Backend.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after.WorkerPIDs(), before.WorkerPIDs()) {
		t.Errorf("workers %v after the failed reload, want the old ones %v", after.WorkerPIDs(), before.WorkerPIDs())
	}
	if got, err := get(port); err != nil || got != "one" {
		t.Errorf("after the failed reload: served by %q (err %v), want %q by the old worker", got, err, "one")
	}
	if !strings.Contains(hx.Output(), "cannot bind socket") {
		t.Logf("haproxy output does not say why:\n%s", hx.Output())
	}

	// The next good configuration reloads, and the failure count resets.
	writeFile(t, path, haproxyConfig(port, two))
	start = time.Now()
	defer func() { t.Logf("good reload took %s", time.Since(start)) }()
	if err := hx.Backend.Reload(context.Background()); err != nil {
		t.Fatalf("Reload after fixing the config: %v\nhaproxy output:\n%s", err, hx.Output())
	}
	waitServedBy(t, port, "two")
}

func TestHAProxy_ReloadCommandExitStatusDecides(t *testing.T) {
	t.Parallel()
	ok := newHAProxy(t, backends.HAProxyConfig{ReloadCommand: []string{"true"}})
	if err := ok.Reload(context.Background()); err != nil {
		t.Errorf("Reload with reload command true = %v, want nil", err)
	}
	failing := newHAProxy(t, backends.HAProxyConfig{ReloadCommand: []string{"sh", "-c", "echo no such unit >&2; exit 5"}})
	err := failing.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit status 5") || !strings.Contains(err.Error(), "no such unit") {
		t.Errorf("Reload with a failing reload command = %v, want its exit status and output", err)
	}
}

func TestHAProxy_ReloadWithoutMasterFailsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHAProxy(t, backends.HAProxyConfig{MasterSocket: filepath.Join(t.TempDir(), "nobody.sock")})
	err := h.Reload(context.Background())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nobody.sock") {
		t.Errorf("Reload with no master = %v, want a not-exist error naming the socket", err)
	}
}

func TestHAProxy_ReloadThroughANonMasterSocketFailsAtOnce(t *testing.T) {
	t.Parallel()
	// A unix socket that answers like a worker's stats socket, not a master.
	socket := filepath.Join(backendtest.ShortTempDir(t), "stats.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, conn)
			io.WriteString(conn, "Unknown command. Please enter one of the following commands only :\n")
			conn.Close()
		}
	}()
	h := newHAProxy(t, backends.HAProxyConfig{MasterSocket: socket})
	err = h.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no master in show proc output") {
		t.Errorf("Reload through a non-master socket = %v, want an error saying it is not a master", err)
	}
}

func TestHAProxy_HungValidatorIsKilledAtTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	childPIDFile := filepath.Join(dir, "child.pid")
	// A fake "haproxy" that hangs, with a child of its own in the same
	// process group: the timeout must kill both.
	fake := filepath.Join(dir, "haproxy")
	writeFile(t, fake, "#!/bin/sh\nsleep 300 &\necho $! > "+childPIDFile+"\nwait\n")
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHAProxy(t, backends.HAProxyConfig{Binary: fake, ReloadCommand: []string{"true"}, Timeout: 300 * time.Millisecond})

	err := retryTextBusy(t, func() error { return h.Validate(context.Background(), filepath.Join(dir, "haproxy.cfg")) })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("Validate with a hung validator = %v, want it killed at the deadline", err)
	}
	assertProcessGone(t, childPIDFile)
}
