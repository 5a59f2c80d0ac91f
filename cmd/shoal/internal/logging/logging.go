// Package logging builds the agent's slog.Logger: records go to stderr at
// the agent's level (changeable at run time, for SIGHUP) and to any number
// of monitor subscribers, each at its own level.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Record is a log record as a monitor subscriber receives it.
type Record struct {
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Message string         `json:"msg"`
	Attrs   map[string]any `json:"attrs,omitempty"`
}

// Hub owns the agent's level and its monitor subscribers.
type Hub struct {
	level *slog.LevelVar

	mu   sync.RWMutex
	subs map[*sub]struct{}
	min  slog.Level // lowest level any subscriber wants
}

type sub struct {
	level slog.Level
	ch    chan Record
}

// New returns a logger writing text or JSON to w at level, and its hub.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, *Hub) {
	h := &Hub{level: new(slog.LevelVar), subs: map[*sub]struct{}{}}
	h.level.Set(level)
	opts := &slog.HandlerOptions{Level: h.level}
	var out slog.Handler
	if format == "json" {
		out = slog.NewJSONHandler(w, opts)
	} else {
		out = slog.NewTextHandler(w, opts)
	}
	return slog.New(&handler{hub: h, out: out}), h
}

// SetLevel changes the level of what reaches stderr.
func (h *Hub) SetLevel(l slog.Level) { h.level.Set(l) }

// Level is the current stderr level.
func (h *Hub) Level() slog.Level { return h.level.Level() }

// Subscribe returns records at level and above until cancel is called.
// A subscriber that does not keep up loses records rather than slowing the
// agent.
func (h *Hub) Subscribe(level slog.Level, buffer int) (<-chan Record, func()) {
	s := &sub{level: level, ch: make(chan Record, buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.recompute()
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.recompute()
			h.mu.Unlock()
		})
	}
}

func (h *Hub) recompute() {
	h.min = slog.LevelError + 1
	for s := range h.subs {
		h.min = min(h.min, s.level)
	}
}

func (h *Hub) wants(l slog.Level) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs) > 0 && l >= h.min
}

func (h *Hub) publish(r Record, l slog.Level) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if l >= s.level {
			select {
			case s.ch <- r:
			default:
			}
		}
	}
}

// handler sends each record to stderr (at the hub's level) and to the
// subscribers (at theirs).
type handler struct {
	hub    *Hub
	out    slog.Handler
	attrs  []slog.Attr
	prefix string // group prefix for subscriber keys
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.out.Enabled(ctx, l) || h.hub.wants(l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.out.Enabled(ctx, r.Level) {
		err = h.out.Handle(ctx, r)
	}
	if h.hub.wants(r.Level) {
		rec := Record{Time: r.Time, Level: r.Level.String(), Message: r.Message}
		if n := len(h.attrs) + r.NumAttrs(); n > 0 {
			rec.Attrs = make(map[string]any, n)
			for _, a := range h.attrs {
				rec.Attrs[a.Key] = attrValue(a.Value)
			}
			r.Attrs(func(a slog.Attr) bool {
				rec.Attrs[h.prefix+a.Key] = attrValue(a.Value)
				return true
			})
		}
		h.hub.publish(rec, r.Level)
	}
	return err
}

func attrValue(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool:
		return v.Any()
	case slog.KindGroup:
		m := map[string]any{}
		for _, a := range v.Group() {
			m[a.Key] = attrValue(a.Value)
		}
		return m
	default:
		return fmt.Sprint(v.Any())
	}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.out = h.out.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.out = h.out.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// ParseLevel accepts debug (or trace), info, warn (warning) and error (err),
// any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug", "trace":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not a log level (debug, info, warn, error)", s)
}
