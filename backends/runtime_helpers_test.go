package backends_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// served asks n times and counts the answers by server name.
func served(t *testing.T, port, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		name, err := backendtest.AskName(port)
		if err != nil {
			t.Fatalf("request through haproxy: %v", err)
		}
		got[name]++
	}
	return got
}

// srv is one server line of rtConfig.
type srv struct {
	name, addr string
	weight     int
	disabled   bool
}

// rtConfig is a TCP listen section svc_web on port with servers, health
// checked, plus extra sections.
func rtConfig(port int, balance string, servers []srv, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 500
defaults
    mode tcp
    timeout connect 2s
    timeout client 1m
    timeout server 1m
    default-server inter 300ms fall 2 rise 1
listen svc_web
    bind 127.0.0.1:%d
    balance %s
`, port, balance)
	for _, s := range servers {
		fmt.Fprintf(&b, "    server %s %s weight %d check", s.name, s.addr, s.weight)
		if s.disabled {
			b.WriteString(" disabled")
		}
		b.WriteString("\n")
	}
	b.WriteString(extra)
	return b.String()
}

// rig is a running haproxy, its configuration file and a backend driving
// it the way the renderer does.
type rig struct {
	t      *testing.T
	hx     *backendtest.HAProxyProcess
	h      *backends.HAProxy
	path   string
	port   int
	start  backends.HAProxyStatus // show proc when the rig started
	reload int                    // reloads the rig did itself
}

func newRig(t *testing.T, cfg backends.HAProxyConfig, content func(port int) string) *rig {
	t.Helper()
	port := backendtest.FreePort(t)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, content(port))
	hx := backendtest.StartHAProxy(t, path)
	cfg.MasterSocket = hx.MasterSocket
	r := &rig{t: t, hx: hx, h: newHAProxy(t, cfg), path: path, port: port}
	r.start = r.status()
	return r
}

func (r *rig) status() backends.HAProxyStatus {
	r.t.Helper()
	return r.hx.Status(r.t)
}

// change does what the renderer does with a new file: validate, install,
// apply at runtime, reload when that is not possible. It returns Apply's
// verdict.
func (r *rig) change(content string) (bool, error) {
	r.t.Helper()
	return r.changeWith(content, backends.ApplyHints{})
}

// changeWith is change with the renderer's hints.
func (r *rig) changeWith(content string, hints backends.ApplyHints) (bool, error) {
	r.t.Helper()
	running, err := os.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	cand := r.path + ".new"
	writeFile(r.t, cand, content)
	if err := r.h.Validate(context.Background(), cand); err != nil {
		r.t.Fatalf("Validate: %v", err)
	}
	if err := os.Rename(cand, r.path); err != nil {
		r.t.Fatal(err)
	}
	applied, applyErr := r.h.Apply(context.Background(), running, []byte(content), hints)
	if !applied {
		if err := r.h.Reload(context.Background()); err != nil {
			r.t.Fatalf("Reload after the fallback (%v): %v\nhaproxy output:\n%s", applyErr, err, r.hx.Output())
		}
		r.reload++
	}
	return applied, applyErr
}

// mustApply changes the file and fails unless the change went through the
// Runtime API.
func (r *rig) mustApply(content string) {
	r.t.Helper()
	if applied, err := r.change(content); !applied {
		r.t.Fatalf("Apply = false (%v), want the change made at runtime; stats %+v", err, r.h.RuntimeStats())
	}
}

// assertNoReload checks with the master that the worker that started is
// the only one and the master never reloaded.
func (r *rig) assertNoReload() {
	r.t.Helper()
	st := r.status()
	if st.Reloads != r.start.Reloads || len(st.Workers) != 1 || st.Workers[0].PID != r.start.Workers[0].PID {
		r.t.Fatalf("show proc: reloads %d, workers %v; want reloads %d and the one worker %d", st.Reloads, st.WorkerPIDs(), r.start.Reloads, r.start.Workers[0].PID)
	}
}

// stateRow is one line of "show servers state", read by the test itself.
type stateRow struct {
	addr           string
	port, weight   int
	admin, opState int
}

// serversState asks the current worker for "show servers state svc_web".
func (r *rig) serversState() map[string]stateRow {
	r.t.Helper()
	reply := cliCommand(r.t, r.hx.MasterSocket, "@1 show servers state svc_web")
	rows := map[string]stateRow{}
	var cols map[string]int
	for _, line := range strings.Split(reply, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "#":
			cols = map[string]int{}
			for i, name := range f[1:] {
				cols[name] = i
			}
		case len(f) > 5 && cols != nil:
			atoi := func(col string) int { n, _ := strconv.Atoi(f[cols[col]]); return n }
			rows[f[cols["srv_name"]]] = stateRow{
				addr: f[cols["srv_addr"]], port: atoi("srv_port"), weight: atoi("srv_uweight"),
				admin: atoi("srv_admin_state"), opState: atoi("srv_op_state"),
			}
		}
	}
	return rows
}

// stateDiff compares "show servers state" with the servers of the file:
// the same names, addresses, weights, and maintenance exactly for the
// disabled ones.
func (r *rig) stateDiff(servers []srv) error {
	rows := r.serversState()
	var diffs []string
	for _, s := range servers {
		row, ok := rows[s.name]
		if !ok {
			diffs = append(diffs, s.name+" missing")
			continue
		}
		delete(rows, s.name)
		host, port, _ := net.SplitHostPort(s.addr)
		if row.addr+":"+strconv.Itoa(row.port) != host+":"+port {
			diffs = append(diffs, fmt.Sprintf("%s at %s:%d, want %s", s.name, row.addr, row.port, s.addr))
		}
		if row.weight != s.weight {
			diffs = append(diffs, fmt.Sprintf("%s weight %d, want %d", s.name, row.weight, s.weight))
		}
		if maint := row.admin&1 != 0; maint != s.disabled {
			diffs = append(diffs, fmt.Sprintf("%s admin state %#x, want maintenance %t", s.name, row.admin, s.disabled))
		}
	}
	for name := range rows {
		diffs = append(diffs, name+" runs but is not in the file")
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

func (r *rig) assertState(servers []srv) {
	r.t.Helper()
	if err := r.stateDiff(servers); err != nil {
		r.t.Fatalf("show servers state disagrees with the file: %v", err)
	}
}

// waitServes waits until requests reach server name.
func (r *rig) waitServes(name string) {
	r.t.Helper()
	testutil.WaitFor(r.t, waitTimeout, func() error {
		got, err := backendtest.AskName(r.port)
		if err != nil {
			return err
		}
		if got != name {
			return fmt.Errorf("served by %q, want %q among the answers", got, name)
		}
		return nil
	})
}

// cliCommand sends one command to an HAProxy CLI socket.
func cliCommand(t *testing.T, socket, command string) string {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return string(reply)
}
