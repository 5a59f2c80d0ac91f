package handlers

import (
	"log/slog"
	"time"
)

// slowAfter is how long a script may run before the log says it is slow.
// Serf's agent warns after the same second, while the script still runs:
// a handler that usually takes milliseconds and now takes seconds is worth
// seeing before its timeout, which by default is a minute away.
const slowAfter = time.Second

// warnWhenSlow logs a warning once if the run it was called for is still
// going slowAfter later. Call the returned stop when the run ends.
func warnWhenSlow(log *slog.Logger) (stop func() bool) {
	start := time.Now()
	t := time.AfterFunc(slowAfter, func() {
		log.Warn("handler is slow, still running", "running_for", time.Since(start).Round(time.Millisecond), "threshold", slowAfter)
	})
	return t.Stop
}
