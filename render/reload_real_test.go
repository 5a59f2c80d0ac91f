package render

import (
	"fmt"
	"log/slog"
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

// A real haproxy whose reload command fails until a gate file exists: the
// new file is installed but haproxy keeps serving the old one, and the
// status and the log say exactly that; once the gate opens, the runner's
// own backoff retry reloads haproxy, which then serves the new file, and
// the status is ok again.
func TestRunner_FailedReloadRetriedWithRealHAProxy(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (run .ci/setup)")
	}
	one, two := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two")
	lb := localMember(t, "lb1", 1, nil)
	g := startGatedHAProxy(t, snapshot("lb1", 1, lb, localMember(t, "web1", 11, map[string]string{"web": one})))
	r, src, clk, logs, dest, gate, port, hx := g.r, g.src, g.clk, g.logs, g.dest, g.gate, g.port, g.hx
	servedBy := func(want string) {
		t.Helper()
		testutil.WaitFor(t, time.Minute, func() error {
			if got, err := backendtest.AskName(port); err != nil || got != want {
				return fmt.Errorf("served by %q (%v), want %q", got, err, want)
			}
			return nil
		})
	}
	servedBy("one")

	src.Set(snapshot("lb1", 2, lb, localMember(t, "web2", 12, map[string]string{"web": two})))
	r.waitIdle()
	st := statusOf(t, r, "lb")
	if st.OK || st.State != StateReloadFailed || !st.ReloadPending || !strings.Contains(st.Error, "reload refused") {
		t.Fatalf("after the refused reload: got %+v, want state %q with haproxy's reason", st, StateReloadFailed)
	}
	if !strings.Contains(readFile(t, dest), "web2") {
		t.Fatalf("the new file is not installed:\n%s", readFile(t, dest))
	}
	if got, err := backendtest.AskName(port); err != nil || got != "one" {
		t.Fatalf("haproxy serves %q (%v), want still the old config's \"one\"", got, err)
	}
	if l := logs.String(); !strings.Contains(l, "installed, but the reload failed") || strings.Contains(l, "last good file stays") {
		t.Errorf("log does not say the file is installed but not live:\n%s", l)
	}

	// The gate opens; the backoff retry, not a membership change, reloads.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ReloadRetryMin)
	r.waitIdle()
	st = statusOf(t, r, "lb")
	if !st.OK || st.State != StateOK || st.ReloadPending || st.Reloads != 1 {
		t.Fatalf("after the retry: got %+v, want ok with 1 reload", st)
	}
	servedBy("two")
	if !strings.Contains(logs.String(), "reload took after earlier failures") {
		t.Errorf("log does not say the reload took:\n%s", logs.String())
	}
	if err := hx.Running(); err != nil {
		t.Fatal(err)
	}
}

// gatedHAProxy is a real haproxy driven by a runner whose reload command
// refuses until the gate file exists.
type gatedHAProxy struct {
	r          *Runner
	src        *fakeSource
	clk        *debouncetest.FakeClock
	logs       *testutil.SyncBuffer
	dest, gate string
	port       int
	hx         *backendtest.HAProxyProcess
}

func startGatedHAProxy(t *testing.T, first *node.Snapshot) *gatedHAProxy {
	t.Helper()
	g := &gatedHAProxy{logs: &testutil.SyncBuffer{}, clk: debouncetest.NewFakeClock(), src: newFakeSource(first), port: backendtest.FreePort(t)}
	vars := map[string]string{"bind": "127.0.0.1", "listen.web": strconv.Itoa(g.port)}
	dir := t.TempDir()
	g.dest, g.gate = filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "reload-allowed")
	vars["server_state_file"] = filepath.Join(dir, "server-state")

	g.hx = startBuiltinHAProxy(t, first, vars, g.dest)
	be, err := backends.NewHAProxy(backends.HAProxyConfig{
		NoRuntime: true,
		ReloadCommand: []string{"sh", "-c", `test -e "$1" || { echo "reload refused: $1 is missing" >&2; exit 1; }; kill -USR2 "$2"`,
			"sh", g.gate, strconv.Itoa(g.hx.PID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	g.r, err = New(Config{
		Source: g.src, Clock: g.clk,
		Templates: []TemplateConfig{{Name: "lb", Source: "builtin:haproxy", Destination: g.dest, Backend: be, Vars: vars}},
	}, slog.New(slog.NewTextHandler(g.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, g.r)
	return g
}
