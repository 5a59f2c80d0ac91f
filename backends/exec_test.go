package backends_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/backends/internal/procfs"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// assertProcessGone checks that the process whose PID a killed command
// wrote to pidFile is gone too: a timeout kills the command's whole process
// group, not just its leader.
func assertProcessGone(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(data)) == "" {
		// The command was killed before it started its child: nothing
		// escaped, and nothing to check.
		t.Logf("no child PID recorded (%v)", err)
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("child PID file: %v", err)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		if procfs.Alive(pid) {
			return fmt.Errorf("the command's child %d is still running", pid)
		}
		return nil
	})
}
