package testutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	calls := 0
	err := Poll(time.Minute, func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("got %d calls, want 3", calls)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("got %v after %d calls, want nil after 3", err, calls)
	}

	errNever := errors.New("got 0 members, want 5")
	err = Poll(0, func() error { return errNever })
	if !errors.Is(err, errNever) || !strings.Contains(err.Error(), "want 5") {
		t.Errorf("after the timeout: got %v, want the condition's last error", err)
	}
}
