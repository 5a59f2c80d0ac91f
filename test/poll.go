//go:build linux

package test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// WaitFor is testutil.WaitFor: poll cond until nil or fail the test.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	testutil.WaitFor(t, timeout, cond)
}

// poll is testutil.Poll, for code without a testing.TB.
func poll(timeout time.Duration, cond func() error) error {
	return testutil.Poll(timeout, cond)
}
