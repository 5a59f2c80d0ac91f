package backends_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// withStateFile adds a global server-state-file at path, loaded by every
// proxy, to an rtConfig.
func withStateFile(conf, path string) string {
	conf = strings.Replace(conf, "global\n", "global\n    server-state-file "+path+"\n", 1)
	return strings.Replace(conf, "defaults\n", "defaults\n    load-server-state-from-file global\n", 1)
}

// A reload carries the running state over through the state file shoal
// writes: an operator's drain stays, a server its check found down starts
// down, while what the new file says wins (a moved server runs at its new
// address, a weight set by hand goes back to the file's). The reconcile
// that follows finds no drift, so the drain does not cost a reload loop.
func TestHAProxyStateFile_DrainAndHealthSurviveAReload(t *testing.T) {
	t.Parallel()
	one, two, three := backendtest.NamedTCPServer(t, "one"), backendtest.NamedTCPServer(t, "two"), backendtest.NamedTCPServer(t, "three")
	dead := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t)) // nothing listens
	state := filepath.Join(t.TempDir(), "server-state")
	servers := []srv{{name: "a", addr: one, weight: 1}, {name: "b", addr: two, weight: 1}, {name: "c", addr: dead, weight: 1}}
	var port int
	r := newRig(t, backends.HAProxyConfig{}, func(p int) string {
		port = p
		return withStateFile(rtConfig(p, "roundrobin", servers, ""), state)
	})
	testutil.WaitFor(t, waitTimeout, func() error {
		if row := r.serversState()["c"]; row.opState != 0 {
			return fmt.Errorf("c's operational state %d, want 0 (its check finds it down)", row.opState)
		}
		return nil
	})
	for _, cmd := range []string{"set server svc_web/a state drain", "set server svc_web/b weight 9"} {
		if reply := strings.TrimSpace(cliCommand(t, r.hx.MasterSocket, "@1 "+cmd)); reply != "" {
			t.Fatalf("%s: %q", cmd, reply)
		}
	}

	// A new listen section forces a reload; b moves to three meanwhile.
	servers[1].addr = three
	extra := fmt.Sprintf("listen svc_api\n    bind 127.0.0.1:%d\n    server x %s\n", backendtest.FreePort(t), one)
	if applied, err := r.change(withStateFile(rtConfig(port, "roundrobin", servers, extra), state)); applied {
		t.Fatalf("Apply(new listen section) = true, %v; want a reload", err)
	}
	if st := r.status(); st.Reloads != r.start.Reloads+1 {
		t.Fatalf("master reloads %d, want %d", st.Reloads, r.start.Reloads+1)
	}
	rows := r.serversState()
	if a := rows["a"]; a.admin&0x08 == 0 {
		t.Errorf("after the reload a's admin state %#x, want the operator's drain (0x08) kept", a.admin)
	}
	if b := rows["b"]; b.weight != 1 || b.addr+":"+fmt.Sprint(b.port) != three {
		t.Errorf("after the reload b runs %+v, want the file's %s weight 1", b, three)
	}
	if out := r.hx.Output(); !strings.Contains(out, "svc_web/c is DOWN, changed from server-state") {
		t.Errorf("haproxy did not start c down from the state file; its output:\n%s", out)
	}
	r.waitServes("three")
	if got := served(t, port, 10); got["one"] > 0 {
		t.Errorf("answers %v: a drains, want none from one", got)
	}

	content, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(content); !strings.HasPrefix(s, "1\n# be_id") || !strings.Contains(s, " a 127.0.0.1 ") || strings.Contains(s, " b 127.0.0.1 ") {
		t.Errorf("state file:\n%s\nwant format 1 with a's line, without moved b's", s)
	}
	if entries, _ := os.ReadDir(filepath.Dir(state)); len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want the state file alone (no temp file left)", len(entries))
	}
	if st := r.h.RuntimeStats(); st.StateFileWrites != 1 || st.StateFileSkips != 0 {
		t.Errorf("stats %+v: want one state file written, none skipped", st)
	}
	cur, _ := os.ReadFile(r.path)
	if drift, err := r.h.Reconcile(context.Background(), cur); drift != "" || err != nil {
		t.Errorf("Reconcile after the reload = %q, %v; want no drift (an operator's drain is not drift)", drift, err)
	}
}

// With no socket to read the state from, the reload goes on without a
// state file, logged at WARN and counted.
func TestHAProxyStateFile_UnreadableStateReloadsWithout(t *testing.T) {
	t.Parallel()
	one := backendtest.NamedTCPServer(t, "one")
	state := filepath.Join(t.TempDir(), "server-state")
	servers := []srv{{name: "a", addr: one, weight: 1}}
	var logs bytes.Buffer
	var port int
	r := newRig(t, backends.HAProxyConfig{
		StatsSocket: filepath.Join(t.TempDir(), "no-such.sock"),
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	}, func(p int) string { port = p; return withStateFile(rtConfig(p, "roundrobin", servers, ""), state) })
	r.waitServes("one")

	servers[0].weight = 2
	if applied, _ := r.change(withStateFile(rtConfig(port, "roundrobin", servers, ""), state)); applied {
		t.Fatal("Apply through a missing stats socket = true, want a reload")
	}
	if st := r.status(); st.Reloads != r.start.Reloads+1 {
		t.Fatalf("master reloads %d, want %d", st.Reloads, r.start.Reloads+1)
	}
	if st := r.h.RuntimeStats(); st.StateFileSkips != 1 || st.StateFileWrites != 0 || !strings.Contains(st.LastStateFileError, "no-such.sock") {
		t.Errorf("stats %+v: want one skip naming the socket", st)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "server state") {
		t.Errorf("log %q: want a WARN about the server state file", logs.String())
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file: %v; want none written", err)
	}
	r.waitServes("one")
}
