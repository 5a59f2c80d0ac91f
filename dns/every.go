package dns

import (
	"sync/atomic"
	"time"
)

// every lets an event through at most once per period, so that a flood
// logs a line per period rather than a line per packet or connection.
type every struct {
	period time.Duration
	next   atomic.Int64 // unix nanoseconds
}

// allow reports whether the event may be logged now.
func (e *every) allow() bool {
	now := time.Now().UnixNano()
	next := e.next.Load()
	return now >= next && e.next.CompareAndSwap(next, now+int64(e.period))
}
