package config

import (
	"fmt"
	"strings"
	"time"
)

// durRange is the valid range of a duration key, both ends included. Zero
// is inside a range only where the key's docs say what 0 means ("render at
// once", "no cap"); elsewhere a zero would stop a ticker or kill every
// handler at once, so it is refused like any other value out of range.
type durRange struct {
	min, max time.Duration
	// seconds requires a whole number of seconds (DNS TTLs are counted in
	// seconds; "1500ms" would be cut silently).
	seconds bool
}

// intRange is the valid range of a count key, both ends included.
type intRange struct{ min, max int }

const (
	day  = 24 * time.Hour
	year = 365 * day
)

// The ranges of every duration and count key, in one place so the README's
// list, the checks and the table test agree.
var (
	retryIntervalRange  = durRange{min: 100 * time.Millisecond, max: day}
	retryMaxRange       = intRange{0, 1_000_000} // 0: retry until it succeeds
	handlerTimeoutRange = durRange{min: 100 * time.Millisecond, max: day}
	handlerQueueRange   = intRange{1, 65536}
	batchPeriodRange    = durRange{min: 0, max: time.Hour} // 0: no batching or coalescing

	dnsTTLRange = durRange{min: 0, max: day, seconds: true} // 0: resolvers do not cache
	// dns.max_answers, dns.udp_answer_limit and the dns.soa timers take
	// package dns's ranges (dnslimits.go).

	waitMinRange         = durRange{min: 0, max: time.Hour} // 0: render at once
	waitMaxRange         = durRange{min: 0, max: time.Hour} // 0: no bound beyond wait.min
	templateTimeoutRange = durRange{min: time.Second, max: time.Hour}
	minBackendsRange     = intRange{0, 1_000_000} // 0: no floor
	// HAProxy's runtime path looks at draining servers once a second, so
	// a shorter drain would not be kept; 0 is not "no drain" but the
	// default, which is why it is out of range.
	drainTimeoutRange      = durRange{min: time.Second, max: day}
	reconcileIntervalRange = durRange{min: time.Second, max: day}

	probeIntervalRange     = durRange{min: 10 * time.Millisecond, max: time.Minute}
	probeTimeoutRange      = durRange{min: 5 * time.Millisecond, max: time.Minute}
	gossipIntervalRange    = durRange{min: 5 * time.Millisecond, max: 10 * time.Second}
	pushPullIntervalRange  = durRange{min: 100 * time.Millisecond, max: time.Hour}
	suspicionMultRange     = intRange{1, 20}
	eventPushRateRange     = intRange{0, 1000} // 0: gossip alone
	reconnectIntervalRange = durRange{min: 100 * time.Millisecond, max: day}
	reconnectTimeoutRange  = durRange{min: time.Minute, max: year}
	tombstoneTimeoutRange  = durRange{min: time.Minute, max: year}
	reapIntervalRange      = durRange{min: 100 * time.Millisecond, max: time.Hour}
	leaveTimeoutRange      = durRange{min: 100 * time.Millisecond, max: 10 * time.Minute}
)

// check returns why d is outside r, or nil.
func (r durRange) check(d time.Duration) error {
	if d < r.min || d > r.max {
		return fmt.Errorf("must be between %s and %s", fmtDuration(r.min), fmtDuration(r.max))
	}
	if r.seconds && d%time.Second != 0 {
		return fmt.Errorf("must be a whole number of seconds")
	}
	return nil
}

func (r intRange) check(v int) error {
	if v < r.min || v > r.max {
		return fmt.Errorf("must be between %d and %d", r.min, r.max)
	}
	return nil
}

// fmtDuration prints d the way a config file would say it: 24h, 1m, 500ms
// rather than 24h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
