package backendtest

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/backends"
)

// HAProxyProcess is a running haproxy in master-worker mode.
type HAProxyProcess struct {
	// ConfigPath is the configuration file haproxy was started with, and
	// re-reads on every reload.
	ConfigPath string
	// MasterSocket is the master CLI's unix socket (-S).
	MasterSocket string
	// PID is the master's PID, which stays the same across reloads.
	PID int
	// Backend is an HAProxy backend that reloads this process through its
	// master CLI.
	Backend *backends.HAProxy

	child *child
}

// StartHAProxy starts "haproxy -W -S <socket> -f cfgPath" in the
// foreground, as a child of the test, and returns once the master CLI lists
// a worker, which means the configuration's listeners are bound. The
// configuration must bind loopback addresses only (FreePort helps) and must
// not set "daemon". The process is stopped when the test ends. A haproxy
// that exits early fails the test with its output.
func StartHAProxy(t testing.TB, cfgPath string) *HAProxyProcess {
	t.Helper()
	socket := filepath.Join(ShortTempDir(t), "master.sock")
	backend, err := backends.NewHAProxy(backends.HAProxyConfig{MasterSocket: socket})
	if err != nil {
		t.Fatalf("haproxy backend: %v", err)
	}
	// SIGTERM makes the master stop its workers and exit.
	c := startChild(t, "haproxy", syscall.SIGTERM, "haproxy", "-W", "-S", socket, "-f", cfgPath)
	p := &HAProxyProcess{ConfigPath: cfgPath, MasterSocket: socket, PID: c.cmd.Process.Pid, Backend: backend, child: c}
	c.waitUp(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		st, err := backend.Status(ctx)
		if err != nil {
			return err
		}
		if len(st.Workers) == 0 {
			return fmt.Errorf("master lists no worker: %w", errNotYet)
		}
		return nil
	})
	return p
}

// Status is the master's "show proc", through Backend; an error fails the
// test.
func (p *HAProxyProcess) Status(t testing.TB) backends.HAProxyStatus {
	t.Helper()
	st, err := p.Backend.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Output returns what haproxy has written to its stdout and stderr so far:
// the master's alerts, such as why a reload failed.
func (p *HAProxyProcess) Output() string { return p.child.output.String() }

// Running returns nil while the master runs, or an error with its output.
func (p *HAProxyProcess) Running() error { return p.child.checkRunning() }
