package backendtest

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/backends/internal/procfs"
)

// NginxProcess is a running nginx master.
type NginxProcess struct {
	// Prefix is nginx's prefix path (-p).
	Prefix string
	// ConfigPath is the configuration file nginx was started with, and
	// re-reads on every reload.
	ConfigPath string
	// PID is the master's PID, which stays the same across reloads.
	PID int

	child *child
}

// StartNginx starts "nginx -p prefix -c conf -e stderr -g 'daemon off;'",
// a master in the foreground as a child of the test, and returns once the
// master has forked its workers, which it does after binding the listeners
// and writing the pid file. The configuration must not set "daemon", must
// listen on loopback addresses only (FreePort helps), and should keep every
// file it names (pid, error_log, access_log, the *_temp_path directories)
// inside prefix: relative paths resolve there. The process is stopped when
// the test ends. An nginx that exits early fails the test with its output.
func StartNginx(t testing.TB, prefix, conf string) *NginxProcess {
	t.Helper()
	// SIGTERM is nginx's fast shutdown: the master stops its workers and
	// exits.
	c := startChild(t, "nginx", syscall.SIGTERM,
		"nginx", "-p", prefix, "-c", conf, "-e", "stderr", "-g", "daemon off;")
	p := &NginxProcess{Prefix: prefix, ConfigPath: conf, PID: c.cmd.Process.Pid, child: c}
	c.waitUp(t, func() error {
		workers, err := p.Workers()
		if err != nil {
			return err
		}
		if len(workers) == 0 {
			return fmt.Errorf("master %d has no workers: %w", p.PID, errNotYet)
		}
		return nil
	})
	return p
}

// Workers returns the PIDs of the master's children: its workers, and
// workers of older configurations still finishing their connections.
func (p *NginxProcess) Workers() ([]int, error) { return procfs.Children(p.PID) }

// Output returns what nginx has written to its stdout and stderr so far:
// messages from before it opened the configuration's error_log.
func (p *NginxProcess) Output() string { return p.child.output.String() }

// Running returns nil while the master runs, or an error with its output.
func (p *NginxProcess) Running() error { return p.child.checkRunning() }
