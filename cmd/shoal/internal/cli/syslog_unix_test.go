//go:build !windows && !plan9

package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyslogHandler sends records through log/syslog to a datagram socket
// standing in for the syslog daemon, and reads what arrives: the facility
// and the priority Serf gives each level, the text without slog's time
// and level, attributes kept, and nothing below the level.
func TestSyslogHandler(t *testing.T) {
	dir, err := os.MkdirTemp("", "slog") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	level := new(slog.LevelVar)
	level.Set(slog.LevelInfo)
	h, err := newSyslogHandler("local3", level, "unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(teeHandler{slog.NewTextHandler(&strings.Builder{}, nil), h}).With("component", "node")
	log.Debug("not sent")
	log.Info("member joined", "member", "b")
	log.Warn("slow")
	level.Set(slog.LevelDebug) // SIGHUP changes the level
	log.Debug("now sent")
	log.Error("broke", "err", "boom")

	// LOCAL3 is 19<<3 = 152; Serf's priorities: info -> notice (5),
	// warn -> warning (4), debug -> info (6), error -> err (3).
	want := []struct{ pri, text string }{
		{"<157>", `msg="member joined" component=node member=b`},
		{"<156>", "msg=slow component=node"},
		{"<158>", `msg="now sent" component=node`},
		{"<155>", "msg=broke component=node err=boom"},
	}
	buf := make([]byte, 4096)
	for _, w := range want {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading the syslog socket: %v, want %s %s", err, w.pri, w.text)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, w.pri) || !strings.Contains(got, "shoal[") || !strings.HasSuffix(strings.TrimSpace(got), w.text) || strings.Contains(got, "level=") {
			t.Errorf("got %q, want priority %s, tag shoal and text %q", got, w.pri, w.text)
		}
	}
	if err := h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "direct", 0)); err != nil {
		t.Errorf("Handle: %v", err)
	}
}

func TestSyslogHandler_Errors(t *testing.T) {
	if _, err := newSyslogHandler("local9", slog.LevelInfo, "", ""); err == nil || !strings.Contains(err.Error(), `unknown facility "local9"`) {
		t.Errorf("bad facility: got %v", err)
	}
	if _, err := newSyslogHandler("daemon", slog.LevelInfo, "unixgram", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "syslog:") {
		t.Errorf("no daemon: got %v, want a syslog error", err)
	}
}
