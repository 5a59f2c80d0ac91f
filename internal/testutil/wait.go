// Package testutil holds helpers shared by shoal's tests. WaitFor and Poll
// are shoal's one polling loop: every test that waits for a condition uses
// them, never a sleep and never a loop of its own.
package testutil

import (
	"fmt"
	"testing"
	"time"
)

// WaitFor polls cond until it returns nil or timeout passes, then fails the
// test with the last error cond returned, which should describe the state it
// saw ("got 3 alive members, want 5"). It replaces sleeps as
// synchronisation: the test proceeds as soon as the condition holds.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("condition not met %v", err)
	}
}

// Poll is WaitFor for code without a testing.TB (a scenario runner that
// reports instead of failing): it returns nil once cond does, or cond's
// last error, wrapped, once timeout passes.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(interval) // polling back-off, not synchronisation
		interval = min(2*interval, 100*time.Millisecond)
	}
}
