// Package backendtest starts real load balancers for tests: an haproxy in
// master-worker mode or an nginx master, each a child of the test process
// in its own process group, with its files in temporary directories, and
// stopped when the test ends. Tests of other packages (render, the agent's
// end-to-end tests) use it too; only tests import it, so none of it is
// compiled into shoal.
package backendtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/procgroup"
)

// StartTimeout is how long a load balancer gets to come up, and to stop.
// Generous: tests run with -race on small, busy machines.
const StartTimeout = 30 * time.Second

// FreePort returns a loopback TCP port that was free a moment ago, for a
// configuration's bind or listen line. Another process could take it in
// between; with the kernel handing out ports in turn that does not happen in
// practice.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("release port %d: %v", port, err)
	}
	return port
}

// ShortTempDir returns a new directory with a short path, removed when the
// test ends. Unix socket paths are limited to about 100 bytes, which
// t.TempDir's paths, built from the test's name, can exceed.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// child is a long-running load balancer process started by a test.
type child struct {
	name   string
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // the process's exit error, set before exited closes
}

// startChild starts argv in its own process group, so that stop can reach
// the workers too, and registers stop with t.Cleanup.
func startChild(t testing.TB, name string, stopSignal os.Signal, argv ...string) *child {
	t.Helper()
	c := &child{
		name:   name,
		cmd:    exec.Command(argv[0], argv[1:]...),
		output: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	procgroup.Isolate(c.cmd)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() { c.stop(t, stopSignal) })
	return c
}

// stop asks the master to shut down with sig, then kills whatever is left
// of its process group: workers of older configurations, or everything if
// the master did not stop in time.
func (c *child) stop(t testing.TB, sig os.Signal) {
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(StartTimeout):
		t.Errorf("%s did not stop within %s after %s; killing it", c.name, StartTimeout, sig)
	}
	_ = procgroup.Kill(c.cmd) // ESRCH when nothing is left
	<-c.exited
}

// checkRunning returns an error carrying the process's output if it has
// exited: a test waiting for it to come up should stop waiting.
func (c *child) checkRunning() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited (%v); its output:\n%s", c.name, c.err, c.output.String())
	default:
		return nil
	}
}

// waitUp polls ready until it returns nil, failing the test at once if the
// process exits and after StartTimeout otherwise.
func (c *child) waitUp(t testing.TB, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	interval := 5 * time.Millisecond
	for {
		if err := c.checkRunning(); err != nil {
			t.Fatal(err)
		}
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after %s: %v; its output:\n%s", c.name, StartTimeout, err, c.output.String())
		}
		select {
		case <-c.exited:
		case <-time.After(interval): // polling back-off, not synchronisation
		}
		interval = min(2*interval, 100*time.Millisecond)
	}
}

// lockedBuffer collects a process's output, which the test reads while the
// process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var errNotYet = errors.New("not yet")
