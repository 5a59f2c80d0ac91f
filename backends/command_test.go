package backends_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
)

func newCommand(t *testing.T, cfg backends.CommandConfig) *backends.Command {
	t.Helper()
	c, err := backends.NewCommand(cfg)
	if err != nil {
		t.Fatalf("NewCommand: %v", err)
	}
	return c
}

func TestCommand_CheckExitStatusDecides(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "good.cfg"), filepath.Join(dir, "empty.cfg")
	writeFile(t, good, "listen 80\n")
	writeFile(t, empty, "")
	// The check accepts non-empty files, and says which file it rejected.
	c := newCommand(t, backends.CommandConfig{
		Check:  []string{"sh", "-c", `test -s "$1" || { echo "empty config $1" >&2; exit 3; }`, "sh", "{{path}}"},
		Reload: []string{"true"},
	})
	if err := c.Validate(context.Background(), good); err != nil {
		t.Errorf("Validate(non-empty file) = %v, want nil", err)
	}
	err := c.Validate(context.Background(), empty)
	if err == nil {
		t.Fatal("Validate(empty file) = nil, want the check's rejection")
	}
	for _, want := range []string{"exit status 3", "empty config " + empty} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestCommand_PlaceholderInsideAnArgument(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lb.cfg")
	writeFile(t, path, "x")
	c := newCommand(t, backends.CommandConfig{
		Check:  []string{"sh", "-c", `test "$1" = "--config=` + path + `"`, "sh", "--config={{path}}"},
		Reload: []string{"true"},
	})
	if err := c.Validate(context.Background(), path); err != nil {
		t.Errorf("Validate = %v, want the placeholder replaced inside the argument", err)
	}
}

func TestCommand_NoCheckAcceptsEverything(t *testing.T) {
	t.Parallel()
	c := newCommand(t, backends.CommandConfig{Reload: []string{"true"}})
	if err := c.Validate(context.Background(), "/nonexistent"); err != nil {
		t.Errorf("Validate without a check = %v, want nil", err)
	}
}

func TestCommand_ReloadExitStatusDecides(t *testing.T) {
	t.Parallel()
	if err := newCommand(t, backends.CommandConfig{Reload: []string{"true"}}).Reload(context.Background()); err != nil {
		t.Errorf("Reload(true) = %v, want nil", err)
	}
	err := newCommand(t, backends.CommandConfig{Reload: []string{"sh", "-c", "echo lb is down >&2; exit 1"}}).Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "lb is down") {
		t.Errorf("Reload(failing) = %v, want its exit status and output", err)
	}
	err = newCommand(t, backends.CommandConfig{Reload: []string{"/nonexistent/reload"}}).Reload(context.Background())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reload(missing program) = %v, want it to wrap os.ErrNotExist", err)
	}
}

// hangScript is a command that never finishes and has a child of its own,
// whose PID it writes to pidFile.
func hangScript(pidFile string) []string {
	return []string{"sh", "-c", `sleep 300 & echo $! > "$1"; wait`, "sh", pidFile}
}

func TestCommand_HungCheckIsKilledAtTimeout(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	c := newCommand(t, backends.CommandConfig{
		Check:   append(hangScript(pidFile), "{{path}}"),
		Reload:  []string{"true"},
		Timeout: 300 * time.Millisecond,
	})
	err := c.Validate(context.Background(), "/some/candidate")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("Validate with a hung check = %v, want it killed at the deadline", err)
	}
	assertProcessGone(t, pidFile)
}

func TestCommand_HungReloadIsKilledAtTimeout(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	c := newCommand(t, backends.CommandConfig{Reload: hangScript(pidFile), Timeout: 300 * time.Millisecond})
	err := c.Reload(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reload with a hung command = %v, want it killed at the deadline", err)
	}
	assertProcessGone(t, pidFile)
}

func TestCommand_CancelledContextKillsCommand(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	c := newCommand(t, backends.CommandConfig{Reload: hangScript(pidFile)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Reload(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Reload with a cancelled context = %v, want context.Canceled", err)
	}
	assertProcessGone(t, pidFile)
}

// A grandchild that leaves the process group (setsid) survives the kill and
// keeps the output pipe open; the command still returns, once the wait
// delay for the pipes has passed.
func TestCommand_EscapedGrandchildDoesNotBlockReturn(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "escaped.pid")
	t.Cleanup(func() {
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	})
	c := newCommand(t, backends.CommandConfig{
		Reload:  []string{"sh", "-c", `setsid sleep 300 & echo $! > "$1"; wait`, "sh", pidFile},
		Timeout: 300 * time.Millisecond,
	})
	if err := c.Reload(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reload = %v, want a deadline error", err)
	}
}
