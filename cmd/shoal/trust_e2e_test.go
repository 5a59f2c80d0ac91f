package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// renderOnlyTemplate is a template block that needs no load balancer:
// the command backend validates and reloads with `true`.
func renderOnlyTemplate(dir string) string {
	return fmt.Sprintf(`
template {
  source      = "builtin:haproxy"
  destination = %q
  backend     = "command"
  check       = ["test", "-s", "{{path}}"]
  reload      = ["true"]
}
`, filepath.Join(dir, "haproxy.cfg"))
}

func (a *agentProc) getJSON(path string, v any) error {
	resp, err := http.Get("http://" + a.http + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// info reads /v1/info, failing the test on error.
func (a *agentProc) info() api.Info {
	a.t.Helper()
	var info api.Info
	if err := a.getJSON("/v1/info", &info); err != nil {
		a.t.Fatalf("%s: info: %v", a.name, err)
	}
	return info
}

func (a *agentProc) metrics() string {
	a.t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTrust_TemplatesNeedAKey: an agent with a template and no gossip key
// refuses to start and says how to fix it; with insecure_gossip it starts,
// warns, and says so in info, /v1/render, `shoal render` and metrics; a
// SIGHUP that drops the opt-out is refused.
func TestTrust_TemplatesNeedAKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "lb.hcl")
	writeFile(t, conf, renderOnlyTemplate(dir))

	r := agentMustFail(t, "-config-file", conf)
	for _, want := range []string{"renders templates", "shoal keygen", "encrypt (-encrypt)", "keyring_file (-keyring-file)", "insecure_gossip = true"} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("template without a key: exit %d, stderr %q lacks %q", r.code, r.stderr, want)
		}
	}

	writeFile(t, conf, renderOnlyTemplate(dir)+"insecure_gossip = true\n")
	a := startAgent(t, "lb", nil, "-config-file", conf)
	if rec := a.waitLog("insecure_gossip: gossip has no key, yet this agent renders templates: anyone who reaches the gossip port " +
		"can join, inject members and change the rendered load-balancer configs and DNS answers"); rec["level"] != "WARN" {
		t.Errorf("opt-out logged at %v, want WARN", rec["level"])
	}
	if info := a.info(); info.Encrypted || !info.Insecure {
		t.Errorf("info: gossip_encrypted %v insecure_gossip %v, want false and true", info.Encrypted, info.Insecure)
	}
	var raw map[string]any
	if err := a.getJSON("/v1/render", &raw); err != nil || raw["insecure_gossip"] != true || raw["gossip_encrypted"] != false {
		t.Errorf("/v1/render: got %v (%v), want top-level insecure_gossip true, gossip_encrypted false", raw, err)
	}
	if out := shoal(t, a, "render").stdout; !strings.Contains(out, "WARNING: gossip has no key (insecure_gossip)") {
		t.Errorf("shoal render does not warn:\n%s", out)
	}
	m := a.metrics()
	for _, want := range []string{"\nshoal_insecure_gossip 1\n", "\nshoal_gossip_encrypted 0\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", strings.TrimSpace(want))
		}
	}

	// The opt-out can only be dropped together with the templates.
	writeFile(t, conf, renderOnlyTemplate(dir)+"insecure_gossip = false\n")
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec := a.waitLog("config reload failed, keeping the running config")
	if !strings.Contains(fmt.Sprint(rec["err"]), "shoal keygen") {
		t.Errorf("reload error %v does not say how to add a key", rec["err"])
	}
	if info := a.info(); !info.Insecure {
		t.Error("a refused reload changed insecure_gossip")
	}
}

// TestTrust_UnkeyedWithoutTemplates: the default agent (no templates, no
// key) runs, serves DNS and warns that anyone can join.
func TestTrust_UnkeyedWithoutTemplates(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "plain", nil)
	rec := a.waitLog("gossip has no key: anyone who reaches the gossip port can join and inject members, " +
		"so DNS answers are only as trustworthy as the network; run `shoal keygen` and set encrypt or keyring_file")
	if rec["level"] != "WARN" {
		t.Errorf("unkeyed agent logged at %v, want WARN", rec["level"])
	}
	if a.dns == "" {
		t.Error("the unkeyed agent does not serve DNS")
	}
	if info := a.info(); info.Encrypted || info.Insecure {
		t.Errorf("info: gossip_encrypted %v insecure_gossip %v, want both false", info.Encrypted, info.Insecure)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(mustShoal(t, a, "info"), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			rows[f[0]] = f[1]
		}
	}
	if rows["gossip_encrypted:"] != "false" || rows["insecure_gossip:"] != "false" {
		t.Errorf("shoal info: gossip_encrypted %q insecure_gossip %q, want false and false", rows["gossip_encrypted:"], rows["insecure_gossip:"])
	}
}

// TestTrust_KeyringFileFailsClosed: a keyring file that is missing, empty,
// holds [] or a bad key stops the agent with an error naming the file.
func TestTrust_KeyringFileFailsClosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, body)
		return p
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.json"), `does not exist (create it with: echo "[\"$(shoal keygen)\"]" >`},
		{file("empty.json", ""), "is empty"},
		{file("none.json", "[]"), "holds no keys"},
		{file("short.json", `["c2hvcnQ="]`), "key 1: key size must be 16, 24 or 32 bytes"},
	} {
		r := agentMustFail(t, "-keyring-file", c.path)
		if r.code != 1 || !strings.Contains(r.stderr, "keyring file "+c.path) || !strings.Contains(r.stderr, c.want) {
			t.Errorf("-keyring-file %s: exit %d, stderr %q; want 1, the file named and %q", filepath.Base(c.path), r.code, r.stderr, c.want)
		}
	}

	// The documented way to make one works, and info reports what the
	// node's keyring holds.
	key := gossipKey(t)
	kr := file("keyring.json", `["`+key+`"]`+"\n")
	a := startAgent(t, "keyed", nil, "-keyring-file", kr)
	if info := a.info(); !info.Encrypted || info.Insecure {
		t.Errorf("info with a keyring file: gossip_encrypted %v insecure_gossip %v, want true and false", info.Encrypted, info.Insecure)
	}
	if m := a.metrics(); !strings.Contains(m, "\nshoal_gossip_encrypted 1\n") || !strings.Contains(m, "\nshoal_insecure_gossip 0\n") {
		t.Error("metrics of a keyed agent lack shoal_gossip_encrypted 1 and shoal_insecure_gossip 0")
	}
}

// TestTrust_DevMakesAndReusesAKey: -dev gossips encrypted with a key it
// makes in ./dev-data on the first start and reuses after a restart.
func TestTrust_DevMakesAndReusesAKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startAgentIn(t, dir, "dev", nil, "-dev")
	a.waitLog("dev mode: made a gossip key; later -dev starts reuse it")
	if info := a.info(); !info.Encrypted || info.Insecure {
		t.Errorf("-dev info: gossip_encrypted %v insecure_gossip %v, want true and false", info.Encrypted, info.Insecure)
	}
	path := filepath.Join(dir, "dev-data", "keyring.json")
	first := readFile(t, path)
	var keys []string
	if err := json.Unmarshal([]byte(first), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("dev keyring %s: %q (%v), want one key", path, first, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dev keyring mode: %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if out := mustShoal(t, a, "keys", "-list"); !strings.Contains(out, keys[0]) {
		t.Errorf("keys -list of the dev agent: %q lacks the key of %s", out, path)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.waitExit(); code != 0 {
		t.Fatalf("dev agent exited %d on SIGTERM", code)
	}

	b := startAgentIn(t, dir, "dev2", nil, "-dev")
	b.waitLog("dev mode: gossip key reused")
	if got := readFile(t, path); got != first {
		t.Errorf("dev keyring changed on restart: got %q, want %q", got, first)
	}
	testutil.WaitFor(t, wait, func() error {
		r := shoal(t, b, "keys", "-list")
		if r.code != 0 || !strings.Contains(r.stdout, keys[0]) || !strings.Contains(r.stdout, "1/1") {
			return fmt.Errorf("keys -list after restart: exit %d, %q %q; want %s on 1/1", r.code, r.stdout, r.stderr, keys[0])
		}
		return nil
	})
}
