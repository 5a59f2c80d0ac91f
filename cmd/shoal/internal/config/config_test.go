package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/render"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	f, err := ParseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("ParseFlags(%q): %v", args, err)
	}
	return f.Load()
}

const hclConf = `
node_name = "web-1"
bind      = "127.0.0.1:7000"
join      = ["127.0.0.1:7001"]
tags      = { role = "web", dc = "a" }
log_level = "debug"
handler_timeout = "3s"
event_handlers = ["member-join,user:deploy=./h.sh"]
service {
  name   = "web"
  port   = 8080
  tags   = ["v2"]
  weight = 10
}
template {
  source      = "builtin:haproxy"
  destination = "/tmp/haproxy.cfg"
  wait {
    min = "1s"
    max = "4s"
  }
  min_backends = 2
  master_socket = "/run/haproxy/master.sock"
  stats_socket  = "/run/haproxy/admin.sock"
  drain_timeout = "1m"
  reconcile_interval = "10s"
  vars = { listen_offset = "20000" }
}
gossip {
  probe_interval = "200ms"
}
`

const jsonConf = `{
  "node_name": "web-1",
  "bind": "127.0.0.1:7000",
  "join": ["127.0.0.1:7001"],
  "tags": {"role": "web", "dc": "a"},
  "log_level": "debug",
  "handler_timeout": "3s",
  "event_handlers": ["member-join,user:deploy=./h.sh"],
  "service": [{"name": "web", "port": 8080, "tags": ["v2"], "weight": 10}],
  "template": {"source": "builtin:haproxy", "destination": "/tmp/haproxy.cfg",
               "wait": {"min": "1s", "max": "4s"}, "min_backends": 2,
               "master_socket": "/run/haproxy/master.sock", "stats_socket": "/run/haproxy/admin.sock",
               "drain_timeout": "1m", "reconcile_interval": "10s", "vars": {"listen_offset": "20000"}},
  "gossip": {"probe_interval": "200ms"}
}`

func TestLoad_HCLAndJSONSameSchema(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{write(t, dir, "a.hcl", hclConf), write(t, dir, "a.json", jsonConf)} {
		t.Run(filepath.Ext(p), func(t *testing.T) {
			c, err := load(t, "-config-file", p)
			if err != nil {
				t.Fatal(err)
			}
			if c.NodeName != "web-1" || c.BindAddr != "127.0.0.1" || c.BindPort != 7000 {
				t.Errorf("got node %q bind %s:%d, want web-1 127.0.0.1:7000", c.NodeName, c.BindAddr, c.BindPort)
			}
			if c.Tags["role"] != "web" || c.Tags["dc"] != "a" {
				t.Errorf("got tags %v", c.Tags)
			}
			if c.LogLevel != slog.LevelDebug || c.HandlerTimeout != 3*time.Second {
				t.Errorf("got level %v timeout %v", c.LogLevel, c.HandlerTimeout)
			}
			if len(c.Services) != 1 || c.Services[0].Name != "web" || c.Services[0].Port != 8080 || c.Services[0].Weight != 10 || c.Services[0].Tags[0] != "v2" {
				t.Errorf("got services %+v", c.Services)
			}
			if len(c.Templates) != 1 || c.Templates[0].WaitMin != time.Second || c.Templates[0].WaitMax != 4*time.Second || c.Templates[0].MinBackends != 2 ||
				c.Templates[0].Backend.Kind != "haproxy" || c.Templates[0].Backend.HAProxy.MasterSocket != "/run/haproxy/master.sock" || c.Templates[0].Vars["listen_offset"] != "20000" {
				t.Errorf("got templates %+v", c.Templates)
			}
			if h := c.Templates[0].Backend.HAProxy; h.StatsSocket != "/run/haproxy/admin.sock" || h.DrainTimeout != time.Minute || h.ReconcileInterval != 10*time.Second || h.NoRuntime {
				t.Errorf("got haproxy runtime options %+v, want stats socket, drain 1m, reconcile 10s, runtime on", h)
			}
			if c.Gossip.ProbeInterval != 200*time.Millisecond {
				t.Errorf("got probe interval %v", c.Gossip.ProbeInterval)
			}
			if len(c.EventHandlers) != 1 || len(c.Join) != 1 {
				t.Errorf("got handlers %v join %v", c.EventHandlers, c.Join)
			}
			if c.HTTPAddr != DefaultHTTPAddr || c.DNSAddr != DefaultDNSAddr || c.Domain != DefaultDomain {
				t.Errorf("defaults lost: http %s dns %s domain %s", c.HTTPAddr, c.DNSAddr, c.Domain)
			}
		})
	}
}

func TestLoad_Defaults(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BindString(); got != "0.0.0.0:7946" {
		t.Errorf("bind: got %s, want 0.0.0.0:7946", got)
	}
	if c.HTTPAddr != "127.0.0.1:7373" || c.DNSAddr != "127.0.0.1:8600" || c.Domain != "shoal." || c.Profile != "lan" {
		t.Errorf("got http %s dns %s domain %s profile %s", c.HTTPAddr, c.DNSAddr, c.Domain, c.Profile)
	}
}

func TestLoad_UnknownKeysNameKeyAndFile(t *testing.T) {
	dir := t.TempDir()
	h := write(t, dir, "bad.hcl", "node_nme = \"x\"\nbogus = 1\n")
	j := write(t, dir, "bad.json", `{"tagz": {}}`)
	_, err := load(t, "-config-file", h, "-config-file", j)
	if err == nil {
		t.Fatal("got no error, want unknown keys reported")
	}
	msg := err.Error()
	for _, want := range []string{"bad.hcl:1", `"node_nme"`, "bad.hcl:2", `"bogus"`, "bad.json", `"tagz"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
}

func TestLoad_BadValuesAllReported(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "v.hcl", `
bind = "no where"
retry_interval = "soon"
log_level = "loud"
profile = "moon"
encrypt = "short"
event_handlers = ["member-jion=./x.sh"]
service {
  name = "bad name"
  port = 0
}
template {
  source = "x"
  destination = "y"
  backend = "apache"
  wait {
    min = "5s"
    max = "1s"
  }
}
`)
	_, err := load(t, "-config-file", p)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, key := range []string{"bind", "retry_interval", "log_level", "profile", "encrypt", "event_handlers[0]", "service[0]", "template[0]", "apache", "wait.max"} {
		if !strings.Contains(err.Error(), p+": "+key) && !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n < 9 {
		t.Errorf("got %d problems reported, want every one:\n%v", n, err)
	}
}

func TestLoad_FlagsOverrideFiles(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "a.hcl", `node_name = "file"
tags = { role = "file", keep = "yes" }
http_addr = "127.0.0.1:1"
`)
	c, err := load(t, "-config-file", p, "-node", "flag", "-tag", "role=flag", "-http-addr", "127.0.0.1:2", "-service", "db:5432:primary,eu")
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "flag" || c.Tags["role"] != "flag" || c.Tags["keep"] != "yes" || c.HTTPAddr != "127.0.0.1:2" {
		t.Errorf("got node %q tags %v http %s", c.NodeName, c.Tags, c.HTTPAddr)
	}
	if len(c.Services) != 1 || c.Services[0].Port != 5432 || len(c.Services[0].Tags) != 2 {
		t.Errorf("got services %+v", c.Services)
	}
}

func TestLoad_ConfigDirLexicalOrder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "20-b.json", `{"node_name": "second"}`)
	write(t, dir, "10-a.hcl", `node_name = "first"
domain = "example"`)
	write(t, dir, "notes.txt", `ignored`)
	c, err := load(t, "-config-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "second" || c.Domain != "example." {
		t.Errorf("got node %q domain %q, want second, example.", c.NodeName, c.Domain)
	}
}

func TestParseFlags_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-bind", "x:y"}, {"-tag", "novalue"}, {"-service", "web"}, {"-service", "web:99999"},
		{"-profile", "moon"}, {"-log-level", "loud"}, {"-event-handler", "bogus=./x"},
		{"-encrypt", "abc"}, {"-nosuchflag"}, {"stray"},
	} {
		if _, err := ParseFlags(args, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseFlags(%q): got %v, want a usage error", args, err)
		}
	}
}

func TestLoad_Dev(t *testing.T) {
	c, err := load(t, "-dev")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dev || len(c.Templates) != 1 || c.Templates[0].Source != "builtin:haproxy" {
		t.Errorf("got dev %v templates %+v", c.Dev, c.Templates)
	}
}

func TestLoad_TokenFromEnv(t *testing.T) {
	t.Setenv(TokenEnv, "sekrit")
	c, err := load(t)
	if err != nil || c.HTTPToken != "sekrit" {
		t.Fatalf("got token %q err %v", c.HTTPToken, err)
	}
	c, err = load(t, "-http-token", "flag")
	if err != nil || c.HTTPToken != "flag" {
		t.Fatalf("got token %q err %v, want the flag to win", c.HTTPToken, err)
	}
}

func TestLoad_TemplateBackends(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "lb.hcl", `
template {
  name          = "edge"
  source        = "builtin:haproxy"
  destination   = "/etc/haproxy/haproxy.cfg"
  reload_command = ["systemctl", "reload", "haproxy"]
  timeout       = "10s"
  no_runtime    = true
  max_drop_fraction = 0.5
  backup        = true
  perms         = "0640"
}
template {
  source      = "builtin:nginx"
  destination = "/etc/nginx/nginx.conf"
  pid_file    = "/run/nginx.pid"
  prefix      = "/etc/nginx"
  error_log   = "/var/log/nginx/error.log"
}
template {
  source      = "/etc/shoal/lb.tmpl"
  destination = "/etc/mylb.conf"
  backend     = "command"
  check       = ["mylb", "--check", "{{path}}"]
  reload      = ["mylb", "--reload"]
}
`)
	c, err := load(t, "-config-file", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Templates) != 3 {
		t.Fatalf("got %d templates, want 3", len(c.Templates))
	}
	h, n, cmd := c.Templates[0], c.Templates[1], c.Templates[2]
	if h.Name != "edge" || h.Backend.Kind != "haproxy" || len(h.Backend.HAProxy.ReloadCommand) != 3 || h.Backend.HAProxy.Timeout != 10*time.Second ||
		h.MaxDropFraction != 0.5 || !h.Backup || h.Perms != 0o640 || h.WaitMin != DefaultWaitMin || h.WaitMax != DefaultWaitMax {
		t.Errorf("haproxy template: got %+v", h)
	}
	if !h.Backend.HAProxy.NoRuntime || h.Backend.HAProxy.DrainTimeout != 0 || h.Backend.HAProxy.ReconcileInterval != 0 {
		t.Errorf("haproxy template: got runtime options %+v, want no_runtime and the backend's defaults (0)", h.Backend.HAProxy)
	}
	if n.Backend.Kind != "nginx" || n.Backend.Nginx.PidFile != "/run/nginx.pid" || n.Backend.Nginx.Prefix != "/etc/nginx" || n.Backend.Nginx.ErrorLog == "" {
		t.Errorf("nginx template (backend defaults to nginx for builtin:nginx): got %+v", n)
	}
	if cmd.Backend.Kind != "command" || cmd.Backend.Command.Check[2] != "{{path}}" || cmd.Backend.Command.Reload[0] != "mylb" {
		t.Errorf("command template: got %+v", cmd)
	}
}

func TestLoad_TemplateBackendErrorsNameFileAndKey(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "agent.hcl", `
template {
  source      = "builtin:haproxy"
  destination = "/a"
}
template {
  source      = "builtin:haproxy"
  destination = "/b"
  master_socket = "/s"
  pid_file    = "/run/nginx.pid"
  perms       = "rw"
}
template {
  source      = "x.tmpl"
  destination = "/c"
  backend     = "command"
  check       = ["mylb", "--check"]
  max_drop_fraction = 2
}
`)
	_, err := load(t, "-config-file", p)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		p + ": template[0]: haproxy: master_socket or reload_command is required",
		p + ": template[1]: nginx: options are set but the backend is \"haproxy\"",
		p + ": template[1]: perms",
		p + ": template[2]: command:",
		p + ": template[2]: max_drop_fraction",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestLoad_DevTemplateDoesNotReload(t *testing.T) {
	c, err := load(t, "-dev")
	if err != nil {
		t.Fatal(err)
	}
	tm := c.Templates[0]
	if !tm.NoReload || tm.Backend.Validate() != nil {
		t.Errorf("got NoReload %v, backend error %v; want a validate-only haproxy", tm.NoReload, tm.Backend.Validate())
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLoad_EncryptEmptyIsOff: encrypt = "" (as in the README's full
// example) means no key, in a file and as a flag, and a later file can
// switch an earlier file's key off.
func TestLoad_EncryptEmptyIsOff(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyed := write(t, dir, "10-key.hcl", `encrypt = "`+key+`"`)
	off := write(t, dir, "20-off.hcl", `encrypt = ""`)
	c, err := load(t, "-config-file", off)
	if err != nil || c.EncryptKey != "" {
		t.Fatalf(`encrypt = "": got key %q, err %v; want no key, no error`, c.EncryptKey, err)
	}
	if c, err = load(t, "-config-file", keyed, "-config-file", off); err != nil || c.EncryptKey != "" {
		t.Errorf("a later encrypt = \"\": got key %q, err %v; want it off", c.EncryptKey, err)
	}
	if c, err = load(t, "-config-file", keyed, "-encrypt", ""); err != nil || c.EncryptKey != "" {
		t.Errorf(`-encrypt "": got key %q, err %v; want it off`, c.EncryptKey, err)
	}
	if c, err = load(t, "-config-file", keyed); err != nil || c.EncryptKey != key {
		t.Errorf("encrypt = KEY: got key %q, err %v", c.EncryptKey, err)
	}
}

func TestLoad_InsecureGossip(t *testing.T) {
	p := write(t, t.TempDir(), "a.hcl", "insecure_gossip = true\n")
	if c, err := load(t, "-config-file", p); err != nil || !c.InsecureGossip {
		t.Errorf("insecure_gossip = true: got %v, err %v", c.InsecureGossip, err)
	}
	if c, err := load(t, "-insecure-gossip"); err != nil || !c.InsecureGossip {
		t.Errorf("-insecure-gossip: got %v, err %v", c.InsecureGossip, err)
	}
	if c, err := load(t, "-config-file", p, "-insecure-gossip=false"); err != nil || c.InsecureGossip {
		t.Errorf("-insecure-gossip=false over the file: got %v, err %v", c.InsecureGossip, err)
	}
	if c, err := load(t); err != nil || c.InsecureGossip {
		t.Errorf("default: got %v, err %v; want off", c.InsecureGossip, err)
	}
}

// TestLoad_DevKeyring: -dev gossips with its own keyring file unless a
// key is configured.
func TestLoad_DevKeyring(t *testing.T) {
	c, err := load(t, "-dev")
	if err != nil || c.KeyringFile != DevKeyringFile || c.EncryptKey != "" {
		t.Errorf("-dev: got keyring file %q key %q err %v; want %s", c.KeyringFile, c.EncryptKey, err, DevKeyringFile)
	}
	key, _ := GenerateKey()
	if c, err = load(t, "-dev", "-encrypt", key); err != nil || c.KeyringFile != "" || c.EncryptKey != key {
		t.Errorf("-dev -encrypt: got keyring file %q key %q err %v; want the given key only", c.KeyringFile, c.EncryptKey, err)
	}
	if c, err = load(t); err != nil || c.KeyringFile != "" {
		t.Errorf("no -dev: got keyring file %q err %v; want none", c.KeyringFile, err)
	}
}

// TestLoad_ExampleConfigs: the shipped config samples load, and every one
// that renders a template names a gossip key, as the agent requires.
func TestLoad_ExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../../../examples/config/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found (%v)", err)
	}
	for _, f := range files {
		c, err := load(t, "-config-file", f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(c.Templates) > 0 && c.EncryptKey == "" && c.KeyringFile == "" && !c.InsecureGossip {
			t.Errorf("%s renders templates but names no gossip key", f)
		}
	}
}

// Member events are batched for handlers with Serf's agent periods unless
// the file says otherwise; 0 turns batching off, a bad value names its key.
func TestLoad_MemberBatching(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.MemberQuiescentPeriod != time.Second || c.MemberCoalescePeriod != 3*time.Second {
		t.Errorf("defaults: got quiescent %v coalesce %v, want Serf's 1s and 3s", c.MemberQuiescentPeriod, c.MemberCoalescePeriod)
	}
	dir := t.TempDir()
	c, err = load(t, "-config-file", write(t, dir, "off.hcl", "member_quiescent_period = \"0s\"\nmember_coalesce_period = \"10s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MemberQuiescentPeriod != 0 || c.MemberCoalescePeriod != 10*time.Second {
		t.Errorf("got quiescent %v coalesce %v, want 0 and 10s", c.MemberQuiescentPeriod, c.MemberCoalescePeriod)
	}
	_, err = load(t, "-config-file", write(t, dir, "bad.hcl", "member_coalesce_period = \"-1s\"\n"))
	if err == nil || !strings.Contains(err.Error(), "member_coalesce_period") {
		t.Errorf("got %v, want an error naming member_coalesce_period", err)
	}
}

// User events sent with coalesce wait as in Serf's agent (1s quiescent,
// 3s at most) unless the file says otherwise; 0 turns coalescing off.
func TestLoad_UserCoalescing(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserQuiescentPeriod != time.Second || c.UserCoalescePeriod != 3*time.Second {
		t.Errorf("defaults: got quiescent %v coalesce %v, want Serf's 1s and 3s", c.UserQuiescentPeriod, c.UserCoalescePeriod)
	}
	dir := t.TempDir()
	c, err = load(t, "-config-file", write(t, dir, "off.hcl", "user_quiescent_period = \"0s\"\nuser_coalesce_period = \"10s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserQuiescentPeriod != 0 || c.UserCoalescePeriod != 10*time.Second {
		t.Errorf("got quiescent %v coalesce %v, want 0 and 10s", c.UserQuiescentPeriod, c.UserCoalescePeriod)
	}
	_, err = load(t, "-config-file", write(t, dir, "bad.hcl", "user_coalesce_period = \"2h\"\n"))
	if err == nil || !strings.Contains(err.Error(), "user_coalesce_period") {
		t.Errorf("got %v, want an error naming user_coalesce_period", err)
	}
}

func TestLoad_DNSLimits(t *testing.T) {
	dir := t.TempDir()
	h := write(t, dir, "d.hcl", `
dns {
  tcp_max_conns         = 20
  tcp_idle_timeout      = "3s"
  max_inflight_forwards = 30
  recursor_timeout      = "1500ms"
}
`)
	j := write(t, dir, "d.json", `{"dns": {"tcp_max_conns": 20, "tcp_idle_timeout": "3s",
  "max_inflight_forwards": 30, "recursor_timeout": "1500ms"}}`)
	for _, p := range []string{h, j} {
		c, err := load(t, "-config-file", p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := []any{c.DNS.TCPMaxConns, c.DNS.TCPIdleTimeout, c.DNS.MaxInflightForwards, c.DNS.RecursorTimeout}
		want := []any{20, 3 * time.Second, 30, 1500 * time.Millisecond}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: got %v, want %v", p, got, want)
				break
			}
		}
	}

	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.DNS; d.TCPMaxConns != 0 || d.TCPIdleTimeout != 0 || d.MaxInflightForwards != 0 || d.RecursorTimeout != 0 {
		t.Errorf("unset dns limits: got %+v, want zeros (package dns's defaults)", d)
	}

	bad := write(t, dir, "bad.hcl", `
dns {
  tcp_max_conns         = 0
  tcp_idle_timeout      = "0s"
  max_inflight_forwards = 100000
  recursor_timeout      = "soon"
}
`)
	_, err = load(t, "-config-file", bad)
	if err == nil {
		t.Fatal("got no error for out-of-range dns limits")
	}
	for _, want := range []string{
		bad + ": dns.tcp_max_conns = 0: must be between 1 and 16384",
		bad + ": dns.tcp_idle_timeout = 0s: must be between 100ms and 5m",
		bad + ": dns.max_inflight_forwards = 100000: must be between 1 and 16384",
		bad + `: dns.recursor_timeout: "soon" is not a duration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// The runtime path's options belong to haproxy: given to another backend
// they are errors naming the template, as master_socket is, and
// no_runtime = false counts as given.
func TestLoad_HAProxyRuntimeOptionsOnOtherBackends(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "agent.hcl", `
template {
  source       = "builtin:nginx"
  destination  = "/a"
  stats_socket = "/run/haproxy/admin.sock"
}
template {
  source      = "builtin:nginx"
  destination = "/b"
  no_runtime  = false
}
template {
  source      = "x.tmpl"
  destination = "/c"
  backend     = "command"
  reload      = ["mylb", "--reload"]
  drain_timeout = "10s"
}
template {
  source        = "builtin:haproxy"
  destination   = "/d"
  master_socket = "/s"
  drain_timeout = "soon"
}
`)
	_, err := load(t, "-config-file", p)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		p + ": template[0]: haproxy: options are set but the backend is \"nginx\"",
		p + ": template[1]: no_runtime: is an haproxy option but the backend is \"nginx\"",
		p + ": template[2]: haproxy: options are set but the backend is \"command\"",
		p + ": template[3]: drain_timeout: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	// The haproxy template's own no_runtime is fine either way.
	p = write(t, dir, "ok.hcl", "template {\n  source = \"builtin:haproxy\"\n  destination = \"/e\"\n  master_socket = \"/s\"\n  no_runtime = false\n}\n")
	if c, err := load(t, "-config-file", p); err != nil || c.Templates[0].Backend.HAProxy.NoRuntime {
		t.Errorf("haproxy no_runtime = false: got %v (no_runtime %v), want it accepted and off", err, c.Templates)
	}
}

// TestLoad_DNSParity reads Consul's DNS keys: alt_domain, udp_answer_limit
// and the soa block, whose min_ttl is the negative TTL.
func TestLoad_DNSParity(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "agent.hcl", `
alt_domain = "shoal.example.com"
dns {
  udp_answer_limit = 3
  soa {
    refresh = "2h"
    retry   = "5m"
    expire  = "336h"
    min_ttl = "30s"
  }
}
`)
	c, err := load(t, "-config-file", p)
	if err != nil {
		t.Fatal(err)
	}
	d := c.DNS
	if c.AltDomain != "shoal.example.com." || d.UDPAnswerLimit != 3 || d.SOARefresh != 2*time.Hour ||
		d.SOARetry != 5*time.Minute || d.SOAExpire != 336*time.Hour || d.NegativeTTL != 30*time.Second {
		t.Errorf("got alt_domain %q and %+v", c.AltDomain, d)
	}
	if c, err := load(t, "-config-file", p, "-alt-domain", "other."); err != nil || c.AltDomain != "other." {
		t.Errorf("-alt-domain over the file: got %q, %v", c.AltDomain, err)
	}

	same := write(t, dir, "same.hcl", "dns {\n  negative_ttl = \"30s\"\n  soa { min_ttl = \"30s\" }\n}\n")
	if c, err := load(t, "-config-file", same); err != nil || c.DNS.NegativeTTL != 30*time.Second {
		t.Errorf("negative_ttl and soa.min_ttl agreeing: got %v, %v", c.DNS.NegativeTTL, err)
	}
	bad := write(t, dir, "bad.hcl", `
domain     = "shoal"
alt_domain = "shoal."
dns {
  negative_ttl = "30s"
  soa { min_ttl = "60s" }
}
`)
	_, err = load(t, "-config-file", bad)
	for _, want := range []string{
		bad + ": dns.soa.min_ttl: 60s differs from dns.negative_ttl 30s",
		`alt_domain (-alt-domain) "shoal." is the domain`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error saying %q", err, want)
		}
	}
}

// config applies render's template rules (render.CheckTemplate), not a
// copy: wait.max = 0 means "no bound beyond min" there, so it loads, and
// render's message names the setting.
func TestLoad_TemplateRulesAreRenders(t *testing.T) {
	dir := t.TempDir()
	block := func(wait string) string {
		return fmt.Sprintf(`
template {
  source      = "builtin:haproxy"
  destination = "/a"
  master_socket = "/s"
  wait {
%s
  }
}
`, wait)
	}
	c, err := load(t, "-config-file", write(t, dir, "ok.hcl", block(`min = "1s"
max = "0s"`)))
	if err != nil {
		t.Fatalf("wait.max 0 (no bound): %v", err)
	}
	if got := c.Templates[0].RenderConfig(nil); render.CheckTemplate(got) != nil || got.Wait.Max != 0 || got.Wait.Min != time.Second {
		t.Errorf("render config: got %+v, want wait 1s..unbounded and valid", got.Wait)
	}
	p := write(t, dir, "bad.hcl", block(`min = "5s"
max = "1s"`))
	_, err = load(t, "-config-file", p)
	if want := p + ": template[0]: wait.max 1s is below wait.min 5s"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}
