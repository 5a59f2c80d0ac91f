//go:build linux

package test

import (
	"fmt"
	"os"
	"testing"
)

var (
	bins Binaries
	// envMissing says why namespaces cannot be used here.
	envMissing error
)

// TestMain builds shoal and shoaltool once for the package and removes
// leftovers of an earlier crashed run before any test starts.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	envMissing = Available()
	if envMissing == nil {
		if err := CleanStale(); err != nil {
			fmt.Fprintln(os.Stderr, "cleaning leftovers of an earlier run:", err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "shoalt-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// needNetns skips when namespaces are unavailable, saying why.
func needNetns(t *testing.T) {
	t.Helper()
	if envMissing != nil {
		t.Skipf("skipping: %v", envMissing)
	}
}

// needShoal skips a scenario when namespaces or haproxy are missing here,
// saying which. The agent itself is always built (TestMain).
func needShoal(t *testing.T) {
	t.Helper()
	needNetns(t)
	if err := HAProxyAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}
