package checks

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// deadPort is a 127.0.0.1 address nothing listens on.
func deadPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHTTP_StatusMapping(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if r.Method != http.MethodGet && r.URL.Path != "/405" {
			code = http.StatusMethodNotAllowed
		}
		if r.Header.Get("X-Probe") != "yes" {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d\n", code)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path     string
		want     node.Health
		wantNote string
	}{
		{"/200", node.HealthPassing, "HTTP 200 OK"},
		{"/204", node.HealthPassing, "HTTP 204 No Content"},
		{"/429", node.HealthWarning, "HTTP 429 Too Many Requests"},
		{"/503", node.HealthCritical, "HTTP 503 Service Unavailable"},
		{"/404", node.HealthCritical, "HTTP 404 Not Found"},
		{"/301", node.HealthCritical, "HTTP 301 Moved Permanently"}, // no Location: not followed
	} {
		d := Definition{ID: "c", HTTP: srv.URL + tc.path, Header: map[string][]string{"X-Probe": {"yes"}}, Interval: time.Second}
		p := newHTTPProber(d).probe(t.Context())
		if p.status != tc.want || p.note != tc.wantNote {
			t.Errorf("GET %s: got %s %q, want %s %q", tc.path, p.status, p.note, tc.want, tc.wantNote)
		}
	}
	d := Definition{ID: "c", HTTP: srv.URL + "/200", Method: http.MethodPost, Header: map[string][]string{"X-Probe": {"yes"}}, Interval: time.Second}
	if p := newHTTPProber(d).probe(t.Context()); p.status != node.HealthCritical || p.note != "HTTP 405 Method Not Allowed" {
		t.Errorf("POST: got %s %q, want critical from the server's 405", p.status, p.note)
	}
	d = Definition{ID: "c", HTTP: "http://" + deadPort(t) + "/", Interval: time.Second}
	if p := newHTTPProber(d).probe(t.Context()); p.status != node.HealthCritical || !strings.Contains(p.note, "connection refused") {
		t.Errorf("dead port: got %s %q, want critical with the connection error", p.status, p.note)
	}
}

func TestHTTP_HangingURLTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d := Definition{ID: "c", HTTP: srv.URL, Interval: time.Second, Timeout: 200 * time.Millisecond}
	p := newHTTPProber(d).probe(t.Context())
	if p.status != node.HealthCritical || p.note != "timed out after 200ms" {
		t.Fatalf("got %s %q, want critical %q", p.status, p.note, "timed out after 200ms")
	}
}

// TestHTTP_EndlessBodyIsBounded serves a body that never ends (it would be
// a gigabyte and more): the check reads MaxOutput bytes, passes on the
// status, and the server's writes fail soon after, bounded by the kernel's
// socket buffers, not by the body.
func TestHTTP_EndlessBodyIsBounded(t *testing.T) {
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for written.Load() < 1<<30 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	d := Definition{ID: "c", HTTP: srv.URL, Interval: time.Minute, Timeout: time.Minute}
	p := newHTTPProber(d).probe(t.Context())
	if p.status != node.HealthPassing || p.note != "HTTP 200 OK" {
		t.Fatalf("got %s %q, want passing on the 200 without reading the body to its end", p.status, p.note)
	}
	if len(p.output) > MaxOutput+200 || !strings.Contains(p.output, "output truncated") {
		t.Errorf("output: %d bytes, truncated=%v; want <= %d and marked", len(p.output), strings.Contains(p.output, "output truncated"), MaxOutput+200)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		select {
		case <-done:
			return nil
		default:
			return fmt.Errorf("server still writing after %d bytes", written.Load())
		}
	})
	if n := written.Load(); n >= 64<<20 {
		t.Errorf("server wrote %d bytes before its writes failed, want well under 64 MiB (the check must not drain the body)", n)
	}
	t.Logf("server wrote %d bytes before the closed connection stopped it", written.Load())
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := tcpProber{Definition{ID: "c", TCP: l.Addr().String(), Interval: time.Second}}.probe(t.Context())
	if p.status != node.HealthPassing {
		t.Errorf("listening port: got %s %q, want passing", p.status, p.note)
	}
	p = tcpProber{Definition{ID: "c", TCP: deadPort(t), Interval: time.Second}}.probe(t.Context())
	if p.status != node.HealthCritical || !strings.Contains(p.note, "connection refused") {
		t.Errorf("dead port: got %s %q, want critical, connection refused", p.status, p.note)
	}
}

// script writes an executable shell script into a temp dir.
func script(t *testing.T, body string) string {
	path := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScript_ExitCodes(t *testing.T) {
	for _, tc := range []struct {
		body     string
		want     node.Health
		wantNote string
	}{
		{"echo all good; exit 0", node.HealthPassing, "all good"},
		{"echo disk 91% >&2; exit 1", node.HealthWarning, "disk 91%"},
		{"exit 2", node.HealthCritical, "exit status 2"},
		{"kill -9 $$", node.HealthCritical, "signal: killed"},
	} {
		path := script(t, tc.body)
		p := scriptProber{Definition{ID: "c", Args: []string{path, "arg"}, Interval: time.Second, Timeout: 20 * time.Second}}.probe(t.Context())
		if p.status != tc.want || p.note != tc.wantNote {
			t.Errorf("%q: got %s %q, want %s %q", tc.body, p.status, p.note, tc.want, tc.wantNote)
		}
	}
	p := scriptProber{Definition{ID: "c", Args: []string{filepath.Join(t.TempDir(), "missing")}, Interval: time.Second}}.probe(t.Context())
	if p.status != node.HealthCritical || !strings.Contains(p.note, "no such file") {
		t.Errorf("missing command: got %s %q, want critical naming the error", p.status, p.note)
	}
	// No shell: a metacharacter in an argument is just text.
	p = scriptProber{Definition{ID: "c", Args: []string{"/bin/echo", "a;", "exit", "3"}, Interval: time.Second, Timeout: 20 * time.Second}}.probe(t.Context())
	if p.status != node.HealthPassing || p.note != "a; exit 3" {
		t.Errorf("argv: got %s %q, want passing %q", p.status, p.note, "a; exit 3")
	}
}

func TestScript_OutputIsBounded(t *testing.T) {
	path := script(t, "head -c 10000000 /dev/zero | tr '\\0' y; exit 0")
	p := scriptProber{Definition{ID: "c", Args: []string{path}, Interval: time.Second, Timeout: 30 * time.Second}}.probe(t.Context())
	if p.status != node.HealthPassing {
		t.Fatalf("got %s %q, want passing", p.status, p.note)
	}
	if len(p.output) > MaxOutput+200 || !strings.Contains(p.output, "output truncated") {
		t.Errorf("output of a 10 MB script: %d bytes, want <= %d and marked truncated", len(p.output), MaxOutput+200)
	}
	if note := cleanNote(p.note); len(note) > MaxNote {
		t.Errorf("note: %d bytes, want <= %d", len(note), MaxNote)
	}
}

// gone fails unless process pid has exited (a zombie waiting for a
// reaper counts as gone: it runs nothing).
func gone(pid string) error {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err == nil && !strings.Contains(string(stat), ") Z ") {
		return fmt.Errorf("process %s still runs: %s", pid, stat)
	}
	return nil
}

func TestScript_TimeoutKillsTheProcessGroup(t *testing.T) {
	for name, body := range map[string]string{
		"never exits":     `echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; while :; do sleep 1; done`,
		"forks a sleeper": `sleep 300 & echo $! > "$1.tmp"; mv "$1.tmp" "$1"; wait`,
	} {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			d := Definition{ID: "c", Args: []string{script(t, body), pidFile}, Interval: time.Second, Timeout: 1500 * time.Millisecond}
			p := scriptProber{d}.probe(t.Context())
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("the script wrote no pid: %v (result %s %q)", err, p.status, p.note)
			}
			if p.status != node.HealthCritical || p.note != "timed out after 1.5s" {
				t.Errorf("got %s %q, want critical %q", p.status, p.note, "timed out after 1.5s")
			}
			pid := strings.TrimSpace(string(b))
			testutil.WaitFor(t, 20*time.Second, func() error { return gone(pid) })
		})
	}
}
