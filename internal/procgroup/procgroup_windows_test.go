//go:build windows

package procgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestMain lets the test binary play the script and its child: with
// PROCGROUP_HELPER=parent it starts itself as the child, writes the
// child's pid to PROCGROUP_PIDFILE and blocks; as child it only blocks.
func TestMain(m *testing.M) {
	switch os.Getenv("PROCGROUP_HELPER") {
	case "parent":
		os.Exit(helperParent())
	case "child":
		select {} // killed by the test
	}
	os.Exit(m.Run())
}

func helperParent() int {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "PROCGROUP_HELPER=child")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pidFile := os.Getenv("PROCGROUP_PIDFILE")
	if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(child.Process.Pid)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = child.Wait()
	return 0
}

// TestRun_CancelEndsTheJob: cancelling a command started by Run kills the
// process it started too (its job is terminated), and Run returns.
func TestRun_CancelEndsTheJob(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCGROUP_HELPER=parent", "PROCGROUP_PIDFILE="+pidFile)
	Set(cmd)
	done := make(chan error, 1)
	go func() { done <- Run(cmd) }()

	var pid uint64
	testutil.WaitFor(t, 30*time.Second, func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return err
		}
		pid, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		return err
	})
	// Opened before the kill, so the pid cannot be reused meanwhile.
	child, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		t.Fatalf("open the helper's child (pid %d): %v", pid, err)
	}
	defer windows.CloseHandle(child)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run after cancel: got nil, want the killed command's error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the cancel")
	}
	if ev, err := windows.WaitForSingleObject(child, 30_000); ev != windows.WAIT_OBJECT_0 {
		t.Fatalf("the helper's child (pid %d) still runs 30s after the kill (wait: %#x, %v)", pid, ev, err)
	}
}
