// Package testutil holds helpers shared by shoal's tests.
package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond until it returns nil or timeout passes, then fails the
// test with the last error cond returned, which should describe the state it
// saw ("got 3 alive members, want 5"). It replaces sleeps as
// synchronisation: the test proceeds as soon as the condition holds.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(interval) // polling back-off, not synchronisation
		if interval < 100*time.Millisecond {
			interval *= 2
		}
	}
}
