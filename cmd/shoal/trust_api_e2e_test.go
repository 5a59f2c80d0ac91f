package main_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// apiRequest sends one request to a's API as an attacker's browser page
// or a curious neighbour would: Host and headers as given ("" Host: the
// address itself). It returns the status and the body.
func (a *agentProc) apiRequest(method, path, host string, hdr map[string]string, body string) (int, string, error) {
	req, err := http.NewRequest(method, "http://"+a.http+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (a *agentProc) tags(t *testing.T) map[string]string {
	t.Helper()
	code, body, err := a.apiRequest("GET", "/v1/tags", "", nil, "")
	if err != nil || code != 200 {
		t.Fatalf("GET /v1/tags: got %d %q %v", code, body, err)
	}
	var tags map[string]string
	if err := json.Unmarshal([]byte(body), &tags); err != nil {
		t.Fatalf("GET /v1/tags: %v in %q", err, body)
	}
	return tags
}

// TestAPI_BrowserAttacksRefused: what a web page in the operator's browser
// can send to the token-less default API (a cross-origin POST needing no
// preflight, a fetch from another origin, a DNS-rebound name) is refused,
// and the agent's tags and membership stay as they were.
func TestAPI_BrowserAttacksRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "hosts.hcl")
	writeFile(t, conf, `http_allowed_hosts = ["shoal.internal"]`)
	a := startAgent(t, "a", nil, "-tag", "role=web", "-config-file", conf)
	evil := `{"set":{"role":"evil"}}`

	for _, tc := range []struct {
		name    string
		method  string
		path    string
		host    string
		hdr     map[string]string
		want    int
		wantMsg string
	}{
		{"text/plain POST (a form or fetch without preflight)", "POST", "/v1/tags", "", map[string]string{"Content-Type": "text/plain"}, 415, "Content-Type: application/json"},
		{"text/plain POST from evil.example", "POST", "/v1/tags", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, "cross-origin"},
		{"JSON POST from evil.example", "POST", "/v1/tags", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "cross-origin"},
		{"cross-site fetch", "POST", "/v1/tags", "", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"},
		{"rebound name POST", "POST", "/v1/tags", "evil.example", map[string]string{"Content-Type": "application/json"}, 421, "http_allowed_hosts"},
		{"text/plain leave", "POST", "/v1/leave", "", map[string]string{"Content-Type": "text/plain"}, 415, "Content-Type"},
		{"text/plain join", "POST", "/v1/join", "", map[string]string{"Content-Type": "text/plain"}, 415, "Content-Type"},
		{"rebound name reads members", "GET", "/v1/members", "evil.example", nil, 421, "http_allowed_hosts"},
		{"rebound name with port reads info", "GET", "/v1/info", "evil.example:7373", nil, 421, "http_allowed_hosts"},
		{"evil.example reads members", "GET", "/v1/members", "", map[string]string{"Origin": "http://evil.example"}, 403, "cross-origin"},
	} {
		body := ""
		if tc.method == "POST" {
			body = evil
		}
		code, got, err := a.apiRequest(tc.method, tc.path, tc.host, tc.hdr, body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if code != tc.want || !strings.Contains(got, tc.wantMsg) {
			t.Errorf("%s: got %d %q, want %d naming %q", tc.name, code, got, tc.want, tc.wantMsg)
		}
		if strings.Contains(got, `"name":"a"`) {
			t.Errorf("%s: the refusal leaks membership: %q", tc.name, got)
		}
	}
	if tags := a.tags(t); tags["role"] != "web" {
		t.Errorf("tags after the attacks: got %v, want role=web", tags)
	}
	a.waitStatus(map[string]string{"a": "alive"})

	// What the operator uses keeps working: the CLI, an allowed name,
	// localhost, the API's own origin, and /v1/health by any name.
	if out := mustShoal(t, a, "tags", "-set", "zone=b"); !strings.Contains(out, "zone=b") {
		t.Errorf("shoal tags -set: got %q", out)
	}
	_, port, _ := net.SplitHostPort(a.http)
	for _, tc := range []struct {
		name, method, path, host string
		hdr                      map[string]string
	}{
		{"allowed name", "GET", "/v1/members", "shoal.internal:" + port, nil},
		{"allowed name, no port", "GET", "/v1/members", "shoal.internal", nil},
		{"localhost", "GET", "/v1/members", "localhost:" + port, nil},
		{"the API's own origin", "POST", "/v1/tags", "", map[string]string{"Content-Type": "application/json", "Origin": "http://" + a.http}},
		{"health by a probe's name", "GET", "/v1/health", "lb-probe.example", nil},
	} {
		body := ""
		if tc.method == "POST" {
			body = `{"set":{"own":"origin"}}`
		}
		if code, got, err := a.apiRequest(tc.method, tc.path, tc.host, tc.hdr, body); err != nil || code != 200 {
			t.Errorf("%s: got %d %q %v, want 200", tc.name, code, got, err)
		}
	}
	if tags := a.tags(t); tags["role"] != "web" || tags["zone"] != "b" || tags["own"] != "origin" {
		t.Errorf("tags after the operator's changes: got %v, want role=web zone=b own=origin", tags)
	}
}

// metric reads one sample from a's /metrics.
func (a *agentProc) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no sample %s in /metrics", name)
}

// holdConns opens n idle TCP connections to addr from the loopback
// address src, and closes them when the test ends.
func holdConns(t *testing.T, addr, src string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: wait}
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d from %s: %v", i, src, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// TestAPI_IdleFloodKeepsHealth: one client holding 1,000 idle connections
// keeps 64 (http_max_conns_per_client): each new one takes the place of its
// oldest idle one, and /v1/health answers another client and the flooding
// address itself; the CLI works.
func TestAPI_IdleFloodKeepsHealth(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil)
	holdConns(t, a.http, "127.0.0.2", 1000)

	const evicted = `shoal_http_connections_evicted_total`
	testutil.WaitFor(t, wait, func() error {
		n, err := a.metric(evicted)
		if err != nil {
			return err
		}
		if n < 1000-64 {
			return fmt.Errorf("%s = %v, want %d", evicted, n, 1000-64)
		}
		return nil
	})
	code, body, err := a.apiRequest("GET", "/v1/health", "", nil, "")
	if err != nil || code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/v1/health during the flood: got %d %q %v, want 200 ok", code, body, err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	fromFlood := &http.Client{Timeout: wait, Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := fromFlood.Get("http://" + a.http + "/v1/health")
	if err != nil {
		t.Fatalf("/v1/health from the flooding address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/v1/health from the flooding address: got %d, want 200", resp.StatusCode)
	}
	if open, err := a.metric("shoal_http_connections_open"); err != nil || open > 64+2 {
		t.Errorf("open connections during the flood: got %v %v, want at most 64 and ours", open, err)
	}
	mustShoal(t, a, "members")
}

// cpuTicks is a process's user+system CPU time in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count from after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	return utime + stime, errors.Join(err1, err2)
}

// openFilesLimit reads a process's soft and hard RLIMIT_NOFILE.
func openFilesLimit(t *testing.T, pid int) (soft, hard int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				soft, _ = strconv.Atoi(f[0])
				hard, _ = strconv.Atoi(f[1])
				return soft, hard
			}
		}
	}
	t.Fatalf("no open-files limit in /proc/%d/limits:\n%s", pid, b)
	return 0, 0
}

// TestAPI_FDExhaustion: an agent whose file descriptors are used up by
// connections (caps raised above its limit on purpose) does not spin on
// the accept error, and answers /v1/health once they are released.
func TestAPI_FDExhaustion(t *testing.T) {
	t.Parallel()
	const nofile = 128
	dir := t.TempDir()
	conf := filepath.Join(dir, "caps.hcl")
	writeFile(t, conf, "http_max_conns = 5000\nhttp_max_conns_per_client = 5000\n")
	limit := []string{"/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)}
	a := startAgentVia(t, limit, "a", nil, "-config-file", conf)
	pid := a.cmd.Process.Pid
	if soft, hard := openFilesLimit(t, pid); soft != nofile || hard != nofile {
		t.Fatalf("the agent's open-files limit: got %d/%d, want %d", soft, hard, nofile)
	}

	// Idle connections are closed after the header timeout (10s), and the
	// kernel's backlog holds the ones the agent cannot accept: 3 x nofile
	// keeps it out of descriptors for longer than the window below.
	conns := holdConns(t, a.http, "127.0.0.1", 3*nofile)
	testutil.WaitFor(t, wait, func() error {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil || len(fds) < nofile-4 {
			return fmt.Errorf("the agent has %d of %d descriptors open (%v), want it out of them", len(fds), nofile, err)
		}
		return nil
	})
	if rec, ok := a.findLog(func(r map[string]any) bool {
		m, _ := r["msg"].(string)
		return strings.Contains(m, "too many open files")
	}); ok {
		t.Logf("agent out of descriptors: %v", rec["msg"])
	}

	before, err := cpuTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	const window = 2 * time.Second
	// Let the agent sit out of descriptors for the window: the CPU it
	// spends meanwhile is what is measured.
	time.Sleep(window)
	after, err := cpuTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	const ticksPerSecond = 100 // USER_HZ on Linux
	used := after - before
	t.Logf("CPU while out of descriptors: %d ticks in %v (%d fds open)", used, window, len(fds))
	if max := int64(window.Seconds() * ticksPerSecond / 2); used >= max {
		t.Errorf("the agent used %d CPU ticks in %v out of descriptors, want < %d (half a core): it spins on accept errors", used, window, max)
	}

	for _, c := range conns {
		c.Close()
	}
	testutil.WaitFor(t, wait, func() error {
		code, body, err := a.apiRequest("GET", "/v1/health", "", nil, "")
		if err != nil || code != 200 {
			return fmt.Errorf("/v1/health after the descriptors came back: got %d %q %v", code, body, err)
		}
		return nil
	})
	mustShoal(t, a, "members")
}

// TestEvents_ReloadFloodBounded: 1,000 reload events reload the load
// balancer once at once and once more a second later, not per event.
func TestEvents_ReloadFloodBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "lb.tmpl")
	writeFile(t, tmpl, "{{range .Members}}{{.Name}}\n{{end}}")
	marker := filepath.Join(dir, "flood-done")
	conf := filepath.Join(dir, "lb.hcl")
	writeFile(t, conf, fmt.Sprintf(`
template {
  name        = "lb"
  source      = %q
  destination = %q
  backend     = "command"
  check       = ["test", "-f", "{{path}}"]
  reload      = ["true"]
  wait {
    min = "10ms"
    max = "100ms"
  }
}
event_handlers = ["user:flood-done=touch %s"]
`, tmpl, filepath.Join(dir, "lb.out"), marker))
	a := startAgent(t, "lb", nil, "-config-file", conf, "-encrypt", gossipKey(t))
	base := a.waitRender("first render installed", func(s api.TemplateStatus) bool { return s.OK && s.Installs >= 1 })

	start := time.Now()
	const events = 1000
	for i := 0; i < events; i++ {
		code, body, err := a.apiRequest("POST", "/v1/event", "", map[string]string{"Content-Type": "application/json"}, `{"name":"reload","coalesce":false}`)
		if err != nil || code != 200 {
			t.Fatalf("reload event %d: got %d %q %v", i, code, body, err)
		}
	}
	// Events reach the agent in order: once the sentinel's handler ran,
	// every reload event has passed the gate.
	mustShoal(t, a, "event", "flood-done")
	testutil.WaitFor(t, wait, func() error {
		if _, err := os.Stat(marker); err != nil {
			return fmt.Errorf("flood-done handler has not run: %w", err)
		}
		return nil
	})
	// The first event reloads at once; the rest collapse into one
	// follow-up a second after it.
	st := a.waitRender("the immediate reload and the follow-up", func(s api.TemplateStatus) bool { return s.Reloads >= base.Reloads+2 })
	elapsed := time.Since(start)
	got := st.Reloads - base.Reloads
	// At most one reload per second, plus the one at the start.
	if max := uint64(elapsed/time.Second) + 1; got > max {
		t.Errorf("%d reload events over %v caused %d reloads, want at most %d", events, elapsed.Round(time.Millisecond), got, max)
	}
	t.Logf("%d reload events over %v: %d reloads", events, elapsed.Round(time.Millisecond), got)
	if st, ok := a.findLog(func(r map[string]any) bool { return r["msg"] == "user event queue is full; event dropped" }); ok {
		t.Logf("note: the node dropped reload events: %v", st)
	}
}
