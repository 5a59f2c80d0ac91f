package procgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestSet_CancelKillsGrandchild: cancelling a shell that backgrounded a
// child kills the child too, and Wait returns.
func TestSet_CancelKillsGrandchild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `sleep 300 & echo $! > "$1.tmp"; mv "$1.tmp" "$1"; wait`, "sh", pidFile)
	Set(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid string
	testutil.WaitFor(t, 20*time.Second, func() error {
		b, err := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		return err
	})
	cancel()
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) {
		t.Fatalf("Wait after cancel: got %v, want the shell killed", err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err == nil && !strings.Contains(string(stat), ") Z ") {
			return fmt.Errorf("the shell's child sleep (pid %s) still runs: %s", pid, stat)
		}
		return nil
	})
}
