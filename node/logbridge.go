package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// memberlistLog turns memberlist's "[LEVEL] memberlist: text" lines into
// structured slog records at the matching level. memberlist logs every
// malformed packet at ERROR, so a flood of garbage would otherwise become
// a flood of log writes that starves the probe loop; lines beyond
// logBurst per second are counted and summarised instead.
type memberlistLog struct {
	logger *slog.Logger
	// suspect, when set, gets the member named by the prober's suspicion
	// line (suspicion.go), whatever the log level lets through.
	suspect func(name string)
	// stopping, when set, reports that the node is shutting down: then
	// memberlist's errors from its own closed sockets (a gossip or probe
	// in flight as the transport closes) are expected, not failures.
	stopping func() bool

	mu         sync.Mutex
	window     time.Time
	written    int
	suppressed int
}

const logBurst = 20

func (w *memberlistLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if w.suspect != nil {
		if name, ok := parseSuspectLine(line); ok {
			w.suspect(name)
		}
	}
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError,
	} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	if strings.HasPrefix(line, "memberlist: ignoring alive message for") && !strings.Contains(line, "because Vsn") {
		// A member our AliveDelegate refused: rejectMember already logs
		// it, rate-limited per name, and counts it.
		level = slog.LevelDebug
	}
	if level == slog.LevelError && w.stopping != nil && w.stopping() && strings.Contains(line, "use of closed network connection") {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !w.logger.Enabled(ctx, level) {
		return len(p), nil
	}
	if !w.allow(ctx) {
		return len(p), nil
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	var attrs []any // the logger carries component=memberlist
	if strings.Contains(line, "decrypt") || strings.Contains(line, "encryption") || strings.Contains(line, "No installed keys") {
		// The usual cause; say it plainly.
		attrs = append(attrs, "hint", "gossip encryption key mismatch: this node and the sender do not share a key (check -encrypt / the keyring)")
	}
	w.logger.Log(ctx, level, line, attrs...)
	return len(p), nil
}

// allow reports whether another line fits in this second's budget, and
// reports how many were dropped in the last full window.
func (w *memberlistLog) allow(ctx context.Context) bool {
	w.mu.Lock()
	now := time.Now()
	if now.Sub(w.window) >= time.Second {
		dropped := w.suppressed
		w.window, w.written, w.suppressed = now, 0, 0
		w.mu.Unlock()
		if dropped > 0 {
			w.logger.Log(ctx, slog.LevelWarn, "memberlist log lines suppressed (too many per second)",
				"suppressed", dropped)
		}
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	if w.written >= logBurst {
		w.suppressed++
		return false
	}
	w.written++
	return true
}
