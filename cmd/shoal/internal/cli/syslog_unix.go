//go:build !windows && !plan9

package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"log/syslog"
	"strings"
	"sync"
)

// syslogFacilities maps config.SyslogFacilities to syslog's values.
var syslogFacilities = map[string]syslog.Priority{
	"KERN": syslog.LOG_KERN, "USER": syslog.LOG_USER, "MAIL": syslog.LOG_MAIL, "DAEMON": syslog.LOG_DAEMON,
	"AUTH": syslog.LOG_AUTH, "SYSLOG": syslog.LOG_SYSLOG, "LPR": syslog.LOG_LPR, "NEWS": syslog.LOG_NEWS,
	"UUCP": syslog.LOG_UUCP, "CRON": syslog.LOG_CRON, "AUTHPRIV": syslog.LOG_AUTHPRIV, "FTP": syslog.LOG_FTP,
	"LOCAL0": syslog.LOG_LOCAL0, "LOCAL1": syslog.LOG_LOCAL1, "LOCAL2": syslog.LOG_LOCAL2, "LOCAL3": syslog.LOG_LOCAL3,
	"LOCAL4": syslog.LOG_LOCAL4, "LOCAL5": syslog.LOG_LOCAL5, "LOCAL6": syslog.LOG_LOCAL6, "LOCAL7": syslog.LOG_LOCAL7,
}

// newSyslogHandler logs to syslog with facility at level and above, one
// message per record in slog's text form without time and level (syslog
// adds its own), at the priority Serf gives each level. network and raddr
// are log/syslog's: "" and "" for the local syslog daemon.
func newSyslogHandler(facility string, level slog.Leveler, network, raddr string) (slog.Handler, error) {
	f, ok := syslogFacilities[strings.ToUpper(facility)]
	if !ok {
		return nil, fmt.Errorf("syslog: unknown facility %q", facility)
	}
	w, err := syslog.Dial(network, raddr, f|syslog.LOG_NOTICE, "shoal")
	if err != nil {
		return nil, fmt.Errorf("syslog: %w (is a syslog daemon running?)", err)
	}
	s := &syslogSink{w: w}
	text := slog.NewTextHandler(&s.buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}})
	return &syslogHandler{sink: s, text: text}, nil
}

// syslogSink is the writer and the buffer every derived handler shares.
type syslogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   *syslog.Writer
}

type syslogHandler struct {
	sink *syslogSink
	text slog.Handler // writes into sink.buf
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	s := h.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimSuffix(s.buf.String(), "\n")
	// Serf's mapping: each level one step more urgent than its name.
	switch {
	case r.Level >= slog.LevelError:
		return s.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return s.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return s.w.Notice(msg)
	default:
		return s.w.Info(msg)
	}
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{sink: h.sink, text: h.text.WithAttrs(as)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{sink: h.sink, text: h.text.WithGroup(name)}
}
