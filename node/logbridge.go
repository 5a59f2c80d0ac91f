package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// memberlistLog turns memberlist's "[LEVEL] memberlist: text" lines into
// structured slog records at the matching level.
type memberlistLog struct{ logger *slog.Logger }

func (w *memberlistLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
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
	line = strings.TrimPrefix(line, "memberlist: ")
	attrs := []any{"component", "memberlist"}
	if strings.Contains(line, "decrypt") || strings.Contains(line, "encryption") || strings.Contains(line, "No installed keys") {
		// The usual cause; say it plainly.
		attrs = append(attrs, "hint", "gossip encryption key mismatch: this node and the sender do not share a key (check -encrypt / the keyring)")
	}
	w.logger.Log(context.Background(), level, line, attrs...)
	return len(p), nil
}
