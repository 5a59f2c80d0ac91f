package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestAgent_SIGHUP: a broken config on SIGHUP keeps the agent running on
// the old one; a good one changes tags, handlers and log level live.
func TestAgent_SIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.hcl")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`tags = { role = "web" }`)
	a := startAgent(t, "a", nil, "-config-file", conf)

	write("tags = { role = \"web\" }\nbogus_key = 1\n")
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec := a.waitLog("config reload failed, keeping the running config")
	if !strings.Contains(fmt.Sprint(rec["err"]), "bogus_key") || !strings.Contains(fmt.Sprint(rec["err"]), "agent.hcl") {
		t.Errorf("reload error %v does not name the key and file", rec["err"])
	}
	if out := mustShoal(t, a, "tags"); out != "role=web\n" {
		t.Errorf("tags after a broken reload: got %q, want role=web", out)
	}

	marker := filepath.Join(dir, "handled")
	write(fmt.Sprintf(`tags = { role = "api", zone = "b" }
log_level = "warn"
event_handlers = ["user:ping=cat > %s"]
`, marker))
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, func() error {
		r := shoal(t, a, "tags")
		if r.stdout != "role=api\nzone=b\n" {
			return fmt.Errorf("tags after reload: %q", r.stdout)
		}
		return nil
	})
	mustShoal(t, a, "event", "ping", "pong")
	testutil.WaitFor(t, wait, func() error {
		b, err := os.ReadFile(marker)
		if string(b) != "pong\n" { // Serf adds the newline read needs
			return fmt.Errorf("reloaded handler has not run: %q %v", b, err)
		}
		return nil
	})
	select {
	case <-a.done:
		t.Fatal("agent exited during reloads")
	default:
	}
}

// TestAPI_Token: with a token, requests without it get 403; health stays
// open; the CLI passes it from -http-token or SHOAL_HTTP_TOKEN.
func TestAPI_Token(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil, "-http-token", "s3cret")

	r := shoal(t, a, "members")
	if r.code != 1 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "-http-token") {
		t.Errorf("members without token: exit %d stderr %q, want 1 and how to pass the token", r.code, r.stderr)
	}
	if r := shoal(t, a, "members", "-http-token", "wrong"); r.code != 1 {
		t.Errorf("members with a wrong token: exit %d, want 1", r.code)
	}
	mustShoal(t, a, "members", "-http-token", "s3cret")
	if r := shoalEnv(t, a, []string{"SHOAL_HTTP_TOKEN=s3cret"}, "info"); r.code != 0 {
		t.Errorf("info with SHOAL_HTTP_TOKEN: exit %d stderr %q", r.code, r.stderr)
	}

	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+a.http+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/v1/health", ""); code != 200 {
		t.Errorf("health without token: got %d, want 200", code)
	}
	for _, p := range []string{"/v1/members", "/v1/info", "/metrics", "/v1/keys"} {
		if code, _ := get(p, ""); code != 403 {
			t.Errorf("%s without token: got %d, want 403", p, code)
		}
	}
	code, body := get("/metrics", "s3cret")
	if code != 200 {
		t.Fatalf("metrics with bearer token: got %d", code)
	}
	for _, want := range []string{`shoal_members{status="alive"} 1`, "shoal_memberlist_", "shoal_build_info", "go_goroutines", "shoal_handler_runs_total", `shoal_catalog_messages_total{kind="broadcast"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCLI_Errors: every bad flag, argument or config gives one clear line
// on stderr and exit status 2 (usage) or 1 (failure).
func TestCLI_Errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badConf := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(badConf, []byte("node_nam = \"x\"\nretry_interval = \"soon\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badVal := filepath.Join(dir, "val.json")
	if err := os.WriteFile(badVal, []byte(`{"retry_interval": "soon", "profile": "moon"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: the port was bound and released by the test.
	dead := "127.0.0.1:1"
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{nil, 2, []string{"Usage: shoal COMMAND"}},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{[]string{"agent", "-bind", "no where"}, 2, []string{"-bind", "not an IP address or a host name"}},
		{[]string{"agent", "-service", "web"}, 2, []string{"-service", "NAME:PORT"}},
		{[]string{"agent", "-tag", "novalue"}, 2, []string{"-tag", "KEY=VALUE"}},
		{[]string{"agent", "-event-handler", "member-jion=./x.sh"}, 2, []string{"member-jion"}},
		{[]string{"agent", "-log-level", "loud"}, 2, []string{"-log-level"}},
		{[]string{"agent", "-nosuch"}, 2, []string{"-nosuch"}},
		{[]string{"agent", "-config-file", badConf}, 1, []string{"bad.hcl:1", `"node_nam"`, `"node_name"`}},
		{[]string{"agent", "-config-file", badVal}, 1, []string{"val.json: retry_interval", "val.json: profile"}},
		{[]string{"agent", "-config-file", filepath.Join(dir, "missing.hcl")}, 1, []string{"missing.hcl", "no such file"}},
		{[]string{"agent", "-encrypt", "c2hvcnQ=", "-http-addr", dead}, 2, []string{"-encrypt", "16, 24 or 32"}},
		{[]string{"members", "-http-addr", dead}, 1, []string{"no agent answers at " + dead, "shoal agent"}},
		{[]string{"members", "-format", "yaml"}, 2, []string{"-format"}},
		{[]string{"members", "-status", "("}, 2, []string{"status filter"}},
		{[]string{"members", "-name", "("}, 2, []string{"name filter"}},
		{[]string{"join"}, 2, []string{"ADDR:PORT"}},
		{[]string{"force-leave"}, 2, []string{"one node"}},
		{[]string{"event"}, 2, []string{"NAME"}},
		{[]string{"query", "-timeout", "soon", "x"}, 2, []string{"-timeout"}},
		{[]string{"keys"}, 2, []string{"exactly one of"}},
		{[]string{"keys", "-install", "not a key!"}, 2, []string{"base64"}},
		{[]string{"tags", "-set", "novalue"}, 2, []string{"KEY=VALUE"}},
		{[]string{"monitor", "-log-level", "loud"}, 2, []string{"-log-level"}},
	}
	for _, c := range cases {
		r := shoal(t, nil, c.args...)
		if r.code != c.code {
			t.Errorf("shoal %q: exit %d, want %d (stderr %q)", c.args, r.code, c.code, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("shoal %q: stderr %q lacks %q", c.args, r.stderr, w)
			}
		}
	}
	if out := mustShoal(t, nil, "version"); !strings.HasPrefix(out, "shoal ") {
		t.Errorf("version: got %q", out)
	}
}
