package render

import "github.com/shoal-dev/shoal/internal/debounce"

// Clock is the time source of the quiescence timers. The runner takes one so
// tests can drive wait { min max } with a fake clock instead of sleeping.
type Clock = debounce.Clock

// Timer is the part of *time.Timer the runner uses.
type Timer = debounce.Timer

// SystemClock is the real clock.
type SystemClock = debounce.SystemClock
