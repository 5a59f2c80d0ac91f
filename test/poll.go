//go:build linux

package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// WaitFor is testutil.WaitFor: poll cond until nil or fail the test.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	testutil.WaitFor(t, timeout, cond)
}

// poll is WaitFor for code without a testing.TB: it returns the last error
// cond gave once timeout passes.
func poll(timeout time.Duration, cond func() error) error {
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
