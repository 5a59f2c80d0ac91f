// Package debouncetest gives tests a debounce.Clock that only moves when
// told to. Only tests import it.
package debouncetest

import (
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
)

// FakeClock only moves when Advance is called. Timers fire with a
// non-blocking send; a loop re-checks due times against Now on every
// wake-up, and tests settle it with the loop's own idle hook.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c  chan time.Time
	at time.Time
}

// NewFakeClock returns a clock stopped at a fixed time.
func NewFakeClock() *FakeClock { return &FakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *FakeClock) NewTimer(d time.Duration) debounce.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.c <- c.now
		return &fakeTimerHandle{c, t}
	}
	c.timers = append(c.timers, t)
	return &fakeTimerHandle{c, t}
}

// Advance moves the clock by d and fires the timers that fell due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		select {
		case t.c <- c.now:
		default:
		}
	}
	c.timers = kept
}

type fakeTimerHandle struct {
	c *FakeClock
	t *fakeTimer
}

func (h *fakeTimerHandle) C() <-chan time.Time { return h.t.c }

func (h *fakeTimerHandle) Stop() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	for i, t := range h.c.timers {
		if t == h.t {
			h.c.timers = append(h.c.timers[:i], h.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
