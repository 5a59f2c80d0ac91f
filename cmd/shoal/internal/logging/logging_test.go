package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// jsonLines decodes each line of buf as one JSON record.
func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// next is the subscriber's next record; there must be one already.
func next(t *testing.T, ch <-chan logging.Record) logging.Record {
	t.Helper()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("no record for the subscriber")
		return logging.Record{}
	}
}

// none fails if the subscriber has a record waiting.
func none(t *testing.T, ch <-chan logging.Record) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected record for the subscriber: %+v", r)
	default:
	}
}

func TestNew_JSONAtLevel(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "json", slog.LevelInfo)
	log.Debug("hidden")
	log.Info("started", "port", 7946, "ok", true)
	log.Warn("careful")
	recs := jsonLines(t, &buf)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want info and warn (debug is below the level): %s", len(recs), buf.String())
	}
	if r := recs[0]; r["level"] != "INFO" || r["msg"] != "started" || r["port"] != 7946.0 || r["ok"] != true {
		t.Errorf("first record %v, want INFO started port=7946 ok=true", r)
	}
	if recs[1]["level"] != "WARN" {
		t.Errorf("second record %v, want WARN", recs[1])
	}
	if hub.Level() != slog.LevelInfo {
		t.Errorf("Level() = %v, want INFO", hub.Level())
	}
}

// TestHub_SetLevel: the level changes at run time (SIGHUP), both ways.
func TestHub_SetLevel(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "text", slog.LevelWarn)
	log.Info("before")
	hub.SetLevel(slog.LevelDebug)
	if hub.Level() != slog.LevelDebug {
		t.Errorf("Level() = %v after SetLevel(DEBUG)", hub.Level())
	}
	log.Debug("during", "k", "v")
	hub.SetLevel(slog.LevelError)
	log.Warn("after")
	out := buf.String()
	if strings.Contains(out, "before") || strings.Contains(out, "after") {
		t.Errorf("records below the level at their time were written:\n%s", out)
	}
	if !strings.Contains(out, "level=DEBUG msg=during k=v\n") {
		t.Errorf("text output %q lacks the debug record in slog's text format", out)
	}
}

// TestWith_ComponentOnce: an attribute added with With appears once per
// line on stderr, and once in a subscriber's attributes, next to the
// record's own.
func TestWith_ComponentOnce(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "json", slog.LevelInfo)
	recs, cancel := hub.Subscribe(slog.LevelInfo, 4)
	defer cancel()
	api := log.With("component", "api")
	api.Info("listening", "addr", "127.0.0.1:8500")
	line := buf.String()
	if n := strings.Count(line, `"component"`); n != 1 {
		t.Errorf("component appears %d times in %s, want once", n, line)
	}
	if got := jsonLines(t, &buf)[0]; got["component"] != "api" || got["addr"] != "127.0.0.1:8500" {
		t.Errorf("stderr record %v, want component=api addr=127.0.0.1:8500", got)
	}
	r := next(t, recs)
	want := map[string]any{"component": "api", "addr": "127.0.0.1:8500"}
	if r.Message != "listening" || r.Level != "INFO" || fmt.Sprint(r.Attrs) != fmt.Sprint(want) || r.Time.IsZero() {
		t.Errorf("subscriber got %+v, want INFO listening with %v and a time", r, want)
	}
}

// TestWithGroup_Keys: groups nest on stderr as slog does; a subscriber
// sees flat dotted keys, attributes added before the group unprefixed.
func TestWithGroup_Keys(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "json", slog.LevelInfo)
	recs, cancel := hub.Subscribe(slog.LevelInfo, 4)
	defer cancel()
	log.With("component", "api").WithGroup("").WithGroup("req").With("method", "GET").Info("served", "path", "/v1/info")
	got := jsonLines(t, &buf)[0]
	req, _ := got["req"].(map[string]any)
	if got["component"] != "api" || req["method"] != "GET" || req["path"] != "/v1/info" {
		t.Errorf("stderr record %v, want component=api and req{method,path}", got)
	}
	want := map[string]any{"component": "api", "req.method": "GET", "req.path": "/v1/info"}
	if r := next(t, recs); fmt.Sprint(r.Attrs) != fmt.Sprint(want) {
		t.Errorf("subscriber attrs %v, want %v", r.Attrs, want)
	}
}

type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("redacted") }

// TestSubscribe_AttrValues: a subscriber gets JSON-friendly values:
// strings, numbers and bools as they are, groups as maps, LogValuers
// resolved, anything else as its string.
func TestSubscribe_AttrValues(t *testing.T) {
	log, hub := logging.New(&bytes.Buffer{}, "json", slog.LevelInfo)
	recs, cancel := hub.Subscribe(slog.LevelInfo, 4)
	defer cancel()
	log.Info("values", "s", "x", "i", -3, "u", uint64(4), "f", 1.5, "b", false, "d", 1500*time.Millisecond,
		"token", secret("hunter2"), slog.Group("peer", "name", "beta", "port", 7946), "err", fmt.Errorf("boom"))
	r := next(t, recs)
	want := map[string]any{"s": "x", "i": int64(-3), "u": uint64(4), "f": 1.5, "b": false, "d": "1.5s",
		"token": "redacted", "peer": map[string]any{"name": "beta", "port": int64(7946)}, "err": "boom"}
	if fmt.Sprintf("%#v", r.Attrs) != fmt.Sprintf("%#v", want) {
		t.Errorf("attrs\n got %#v\nwant %#v", r.Attrs, want)
	}
	if b, err := json.Marshal(r); err != nil || !strings.Contains(string(b), `"peer":{"name":"beta","port":7946}`) {
		t.Errorf("record as JSON: %s (%v)", b, err)
	}
	log.Info("bare")
	if r := next(t, recs); r.Attrs != nil {
		t.Errorf("a record without attributes has attrs %v, want none (omitted in JSON)", r.Attrs)
	}
}

// TestSubscribe_OwnLevels: each subscriber gets records at its own level,
// whatever stderr's, and stderr keeps its own.
func TestSubscribe_OwnLevels(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "json", slog.LevelError)
	ctx := context.Background()
	if log.Enabled(ctx, slog.LevelWarn) {
		t.Error("WARN enabled with stderr at ERROR and no subscriber")
	}
	debugs, cancelDebug := hub.Subscribe(slog.LevelDebug, 8)
	warns, cancelWarn := hub.Subscribe(slog.LevelWarn, 8)
	defer cancelWarn()
	if !log.Enabled(ctx, slog.LevelDebug) {
		t.Error("DEBUG not enabled with a DEBUG subscriber")
	}
	log.Debug("d")
	log.Warn("w")
	if buf.Len() != 0 {
		t.Errorf("stderr at ERROR got %q", buf.String())
	}
	if a, b := next(t, debugs), next(t, debugs); a.Message != "d" || a.Level != "DEBUG" || b.Message != "w" {
		t.Errorf("debug subscriber got %q then %q, want d then w", a.Message, b.Message)
	}
	if r := next(t, warns); r.Message != "w" || r.Level != "WARN" {
		t.Errorf("warn subscriber got %+v, want w at WARN", r)
	}
	none(t, warns)

	// Cancelling the DEBUG subscriber raises what the logger must build.
	cancelDebug()
	cancelDebug() // harmless twice
	if log.Enabled(ctx, slog.LevelInfo) || !log.Enabled(ctx, slog.LevelWarn) {
		t.Error("after the DEBUG subscriber left, want INFO off and WARN on (the WARN subscriber)")
	}
	log.Warn("w2")
	none(t, debugs)
	if r := next(t, warns); r.Message != "w2" {
		t.Errorf("warn subscriber got %q, want w2", r.Message)
	}
}

// TestSubscribe_SlowSubscriberLoses: a subscriber whose buffer is full
// loses records; logging goes on without waiting for it.
func TestSubscribe_SlowSubscriberLoses(t *testing.T) {
	var buf bytes.Buffer
	log, hub := logging.New(&buf, "json", slog.LevelInfo)
	recs, cancel := hub.Subscribe(slog.LevelInfo, 2)
	defer cancel()
	for i := range 5 {
		log.Info("n", "i", i)
	}
	if n := len(jsonLines(t, &buf)); n != 5 {
		t.Errorf("stderr got %d records, want all 5", n)
	}
	if a, b := next(t, recs), next(t, recs); a.Attrs["i"] != int64(0) || b.Attrs["i"] != int64(1) {
		t.Errorf("subscriber got i=%v, i=%v; want the first two", a.Attrs["i"], b.Attrs["i"])
	}
	none(t, recs)
}

// TestHub_Concurrent: logging, subscribing, cancelling and changing the
// level at once (run with -race).
func TestHub_Concurrent(t *testing.T) {
	log, hub := logging.New(&testutil.SyncBuffer{}, "text", slog.LevelInfo)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 200 {
				log.With("g", g).Debug("tick", "i", i)
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				ch, cancel := hub.Subscribe(slog.LevelDebug, 1)
				hub.SetLevel(slog.LevelDebug)
				select {
				case <-ch:
				default:
				}
				cancel()
				hub.SetLevel(slog.LevelInfo)
			}
		}()
	}
	wg.Wait()
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "TRACE": slog.LevelDebug, "info": slog.LevelInfo, "Info": slog.LevelInfo,
		"warn": slog.LevelWarn, "WARNING": slog.LevelWarn, "error": slog.LevelError, "err": slog.LevelError,
	} {
		if got, err := logging.ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "loud", "fatal"} {
		_, err := logging.ParseLevel(in)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q is not a log level (debug, info, warn, error)", in)) {
			t.Errorf("ParseLevel(%q): err %v, want one naming the value and the levels", in, err)
		}
	}
}
