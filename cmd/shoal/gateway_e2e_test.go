package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends/backendtest"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/templates"
)

// webServer is a tiny HTTP backend on loopback that answers with its name.
func webServer(t *testing.T, name string) (*httptest.Server, int) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(s.URL, "http://"), ":")
	p, _ := strconv.Atoi(port)
	return s, p
}

// lbClient opens a new connection per request, so each request goes to
// the load balancer's current workers, never to a kept-alive old one.
var lbClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get sends one request through the load balancer and returns the name of
// the backend that answered.
func get(port int) (string, error) {
	resp, err := lbClient.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// waitServedBy waits until requests through port have reached every one of
// names.
func waitServedBy(t *testing.T, port int, names ...string) {
	t.Helper()
	seen := map[string]bool{}
	testutil.WaitFor(t, wait, func() error {
		got, err := get(port)
		if err != nil {
			return err
		}
		seen[got] = true
		for _, n := range names {
			if !seen[n] {
				return fmt.Errorf("served by %v so far, want all of %v", seen, names)
			}
		}
		return nil
	})
}

// renderStatus reads the agent's /v1/render.
func (a *agentProc) renderStatus() (api.TemplateStatus, error) {
	resp, err := http.Get("http://" + a.http + "/v1/render")
	if err != nil {
		return api.TemplateStatus{}, err
	}
	defer resp.Body.Close()
	var out api.RenderResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return api.TemplateStatus{}, err
	}
	if len(out.Templates) != 1 {
		return api.TemplateStatus{}, fmt.Errorf("%s has %d templates, want 1", a.name, len(out.Templates))
	}
	return out.Templates[0], nil
}

// waitRender waits until a's template status satisfies cond, and returns it.
func (a *agentProc) waitRender(what string, cond func(api.TemplateStatus) bool) api.TemplateStatus {
	a.t.Helper()
	var st api.TemplateStatus
	testutil.WaitFor(a.t, wait, func() error {
		var err error
		if st, err = a.renderStatus(); err != nil {
			return err
		}
		if !cond(st) {
			return fmt.Errorf("%s: waiting for %s; status %+v", a.name, what, st)
		}
		return nil
	})
	return st
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGateway_HAProxy runs the gateway end to end with a real haproxy in
// master-worker mode: two HTTP backends, each behind an agent offering
// service web, and an lb agent whose template names haproxy's master
// socket. A second lb agent renders the same template (validated by
// haproxy -c through the command backend) so that the cluster-wide event
// and query have two renderers to reach.
func TestGateway_HAProxy(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	st := g.checkBothBackends(t)
	g.checkConfigHash(t, st.Hash)
	g.checkReloadEvent(t)
	g.checkMemberKilled(t)
	// The file after web-a was dropped: no bad input below may change it.
	good := readFile(t, g.cfgPath)
	g.checkBadTemplates(t, good)
	g.checkUnreadTag(t, good)
	st = g.checkInjection(t, good)
	checkRenderMetrics(t, g.lb, st.Applied)
}

// gatewayRig is the cluster TestGateway_HAProxy drives: web-a and web-b
// offer service web, lb renders it into haproxy's live config, lb2 into a
// file of its own through the command backend.
type gatewayRig struct {
	srvA              *httptest.Server // web-a's HTTP backend
	listen            int              // haproxy's web listener
	cfgPath, tmplPath string           // haproxy's config and lb's template
	builtin           string           // the built-in haproxy template
	hp                *backendtest.HAProxyProcess
	webA, webB        *agentProc
	lb, lb2           *agentProc
}

// startGateway starts the web servers, haproxy with a stats-only config,
// and the four agents.
func startGateway(t *testing.T) *gatewayRig {
	t.Helper()
	g := &gatewayRig{}
	var portA, portB int
	g.srvA, portA = webServer(t, "A")
	_, portB = webServer(t, "B")
	listen, stats := backendtest.FreePort(t), backendtest.FreePort(t)
	g.listen = listen

	dir := backendtest.ShortTempDir(t)
	g.cfgPath = filepath.Join(dir, "haproxy.cfg")
	// haproxy will not start without a listener; the stats page is one
	// that every rendering keeps.
	writeFile(t, g.cfgPath, fmt.Sprintf(`global
    master-worker
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
listen stats
    mode http
    bind 127.0.0.1:%d
    stats enable
`, stats))
	g.hp = backendtest.StartHAProxy(t, g.cfgPath)

	g.tmplPath = filepath.Join(dir, "haproxy.tmpl")
	builtin, err := templates.Get("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	g.builtin = string(builtin)
	writeFile(t, g.tmplPath, g.builtin)
	vars := fmt.Sprintf(`vars = { bind = "127.0.0.1", stats_port = "%d", "listen.web" = "%d" }`, stats, listen)
	lbConf, lb2Conf := writeGatewayConfigs(t, dir, g.tmplPath, g.cfgPath, g.hp.MasterSocket, vars)

	key := gossipKey(t)
	g.webA = startAgent(t, "web-a", nil, "-encrypt", key, "-service", fmt.Sprintf("web:%d", portA))
	g.webB = startAgent(t, "web-b", nil, "-encrypt", key, "-service", fmt.Sprintf("web:%d", portB), "-join", g.webA.gossip)
	g.lb = startAgent(t, "lb", nil, "-encrypt", key, "-config-file", lbConf, "-join", g.webA.gossip)
	g.lb2 = startAgent(t, "lb2", nil, "-encrypt", key, "-config-file", lb2Conf, "-join", g.webA.gossip)
	return g
}

// writeGatewayConfigs writes lb's config (the haproxy backend on the
// master socket, installing into cfgPath) and lb2's (the command backend,
// checked by haproxy -c, installing under dir/lb2), and returns their paths.
func writeGatewayConfigs(t *testing.T, dir, tmplPath, cfgPath, masterSocket, vars string) (lbConf, lb2Conf string) {
	t.Helper()
	lbConf = filepath.Join(dir, "lb.hcl")
	writeFile(t, lbConf, fmt.Sprintf(`
template {
  name          = "edge"
  source        = %q
  destination   = %q
  master_socket = %q
  min_backends  = 1
  wait {
    min = "50ms"
    max = "500ms"
  }
  %s
}
`, tmplPath, cfgPath, masterSocket, vars))
	lb2Dest := filepath.Join(dir, "lb2", "haproxy.cfg")
	if err := os.MkdirAll(filepath.Dir(lb2Dest), 0o755); err != nil {
		t.Fatal(err)
	}
	lb2Conf = filepath.Join(dir, "lb2.hcl")
	writeFile(t, lb2Conf, fmt.Sprintf(`
template {
  name        = "edge"
  source      = %q
  destination = %q
  backend     = "command"
  check       = ["haproxy", "-c", "-f", "{{path}}"]
  reload      = ["true"]
  min_backends = 1
  wait {
    min = "50ms"
    max = "500ms"
  }
  %s
}
`, tmplPath, lb2Dest, vars))
	return lbConf, lb2Conf
}

// checkBothBackends checks that both backends are in the file, haproxy
// reloaded, and requests reach both; it returns lb's status.
func (g *gatewayRig) checkBothBackends(t *testing.T) api.TemplateStatus {
	t.Helper()
	st := g.lb.waitRender("2 backends installed and reloaded", func(s api.TemplateStatus) bool {
		return s.OK && s.Backends == 2 && s.Reloads >= 1
	})
	if st.Hash == "" || st.Backend != "haproxy" {
		t.Errorf("status: got hash %q backend %q", st.Hash, st.Backend)
	}
	waitServedBy(t, g.listen, "A", "B")
	g.lb2.waitRender("2 backends", func(s api.TemplateStatus) bool { return s.OK && s.Backends == 2 })
	return st
}

// checkConfigHash checks shoal query config-hash: both renderers serve
// the same bytes, hash.
func (g *gatewayRig) checkConfigHash(t *testing.T, hash string) {
	t.Helper()
	g.lb2.waitRender("same hash as lb", func(s api.TemplateStatus) bool { return s.Hash == hash })
	out := mustShoal(t, g.webB, "query", "-timeout", "2s", "config-hash")
	for _, want := range []string{"lb    ", "lb2", "web-a", "(no templates)", hash[:12], "4 nodes, 1 distinct hash "} {
		if !strings.Contains(out, want) {
			t.Errorf("query config-hash: %q missing in:\n%s", want, out)
		}
	}
}

// checkReloadEvent checks shoal event reload: every lb agent re-renders
// and reloads, once.
func (g *gatewayRig) checkReloadEvent(t *testing.T) {
	t.Helper()
	r1, _ := g.lb.renderStatus()
	r2, _ := g.lb2.renderStatus()
	mustShoal(t, g.webA, "event", "reload")
	g.lb.waitRender("one more reload", func(s api.TemplateStatus) bool { return s.Reloads == r1.Reloads+1 })
	g.lb2.waitRender("one more reload", func(s api.TemplateStatus) bool { return s.Reloads == r2.Reloads+1 })
	// A reload aimed at another template is ignored; its delivery is the
	// sentinel that the first event was not handled twice.
	mustShoal(t, g.webA, "event", "-coalesce=false", "reload", "no-such-template")
	g.lb.waitLog("reload event ignored: no such template here")
	if s, _ := g.lb.renderStatus(); s.Reloads != r1.Reloads+1 {
		t.Errorf("lb reloads after one reload event: got %d, want %d", s.Reloads, r1.Reloads+1)
	}
}

// checkMemberKilled kills web-a's machine: its agent (SIGKILL) and its
// server. The file is rewritten and the change applied through haproxy's
// Runtime API, with no reload (a reload, should the runtime path decline,
// leaves an old worker until it finishes); then no request reaches A and
// none fails.
func (g *gatewayRig) checkMemberKilled(t *testing.T) {
	t.Helper()
	before, _ := g.lb.renderStatus()
	if err := g.webA.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	g.srvA.Close()
	st := g.lb.waitRender("web-a dropped and the change applied", func(s api.TemplateStatus) bool {
		return s.OK && s.Backends == 1 && s.Installs > before.Installs && s.Applied > before.Applied
	})
	if cfg := readFile(t, g.cfgPath); strings.Contains(cfg, "web-a") || !strings.Contains(cfg, "web-b") {
		t.Fatalf("haproxy.cfg after web-a failed:\n%s", cfg)
	}
	if st.Reloads != before.Reloads || st.Runtime == nil || st.Runtime.Applies == 0 || st.Runtime.Commands == 0 || st.Runtime.ServersRemoved == 0 {
		t.Errorf("after web-a was dropped: reloads %d (before %d), runtime %+v; want no reload, and applies, commands and a removed server counted",
			st.Reloads, before.Reloads, st.Runtime)
	}
	if out := mustShoal(t, g.lb, "render"); !strings.Contains(out, "APPLIED") || !strings.Contains(out, "edge: runtime: ") {
		t.Errorf("shoal render: no APPLIED column or runtime line in:\n%s", out)
	}
	waitOneWorker(t, g.hp)
	for i := range 30 {
		got, err := get(g.listen)
		if err != nil || got != "B" {
			t.Fatalf("request %d after web-a was dropped: got %q, %v; want B", i, got, err)
		}
	}
}

// checkBadTemplates checks that a template that does not parse is
// watched and re-rendered at once, and that one haproxy rejects is
// reported with haproxy's message; the installed file stays good.
func (g *gatewayRig) checkBadTemplates(t *testing.T, good string) {
	t.Helper()
	writeFile(t, g.tmplPath, g.builtin+"\n{{ .Broken ")
	g.lb.waitRender("template error", func(s api.TemplateStatus) bool { return s.TemplateError != "" })
	// A template that renders a config haproxy rejects.
	writeFile(t, g.tmplPath, g.builtin+"\nthis-is-not-a-keyword\n")
	st := g.lb.waitRender("validation failure", func(s api.TemplateStatus) bool {
		return !s.OK && strings.Contains(s.Error, "validate") && s.TemplateError == ""
	})
	if !strings.Contains(st.Error, "this-is-not-a-keyword") {
		t.Errorf("validation error does not carry haproxy's message: %s", st.Error)
	}
	if got := readFile(t, g.cfgPath); got != good {
		t.Fatalf("a rejected render changed the file:\n%s", got)
	}
	if got, err := get(g.listen); err != nil || got != "B" {
		t.Fatalf("haproxy after rejected renders: got %q, %v; want B", got, err)
	}
	r := shoal(t, g.lb, "render")
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "this-is-not-a-keyword") {
		t.Errorf("shoal render with a failing template: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	writeFile(t, g.tmplPath, g.builtin)
	g.lb.waitRender("good again", func(s api.TemplateStatus) bool { return s.OK && s.TemplateError == "" })
}

// checkUnreadTag checks that a tag the template never reads does not
// exclude a member, unsafe or not: web-b keeps serving with
// owner="team a" and the file stays good.
func (g *gatewayRig) checkUnreadTag(t *testing.T, good string) {
	t.Helper()
	settled := g.lb.waitRender("settled", func(s api.TemplateStatus) bool { return s.OK })
	mustShoal(t, g.webB, "tags", "-set", "owner=team a")
	g.lb.waitRender("a render after owner was set", func(s api.TemplateStatus) bool {
		return s.Renders > settled.Renders && s.OK && len(s.Excluded) == 0
	})
	if got := readFile(t, g.cfgPath); got != good {
		t.Fatalf("an unread tag changed the file:\n%s", got)
	}
}

// checkInjection: a control character is refused by the agent itself; a
// value with spaces is gossiped, and in a tag the template reads
// (listenPort reads listen.*) render leaves web-b out entirely, which the
// floor (min_backends = 1) refuses: the file does not change. It returns
// lb's status.
func (g *gatewayRig) checkInjection(t *testing.T, good string) api.TemplateStatus {
	t.Helper()
	if r := shoal(t, g.webB, "tags", "-set", "listen.evil=x\nserver evil 1.2.3.4:80"); r.code == 0 {
		t.Errorf("tags -set with a newline: got exit 0, want a refusal")
	}
	mustShoal(t, g.webB, "tags", "-set", "listen.evil=x server evil 1.2.3.4:80")
	st := g.lb.waitRender("web-b excluded", func(s api.TemplateStatus) bool {
		return len(s.Excluded) == 1 && strings.Contains(s.Excluded[0].Member, "web-b")
	})
	if got := readFile(t, g.cfgPath); got != good || strings.Contains(got, "evil") {
		t.Fatalf("the injection attempt changed the file:\n%s", got)
	}
	if st.OK || !strings.Contains(st.Error, "floor") {
		t.Errorf("status after web-b was excluded: ok %v error %q, want the floor guard", st.OK, st.Error)
	}
	// A dry render of the live data fails the same floor, writes nothing.
	if r := shoal(t, g.lb, "render", "-dry"); r.code != 1 || strings.Contains(r.stdout, "evil") || !strings.Contains(r.stdout, "would fail") {
		t.Errorf("render -dry: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if got, err := get(g.listen); err != nil || got != "B" {
		t.Fatalf("haproxy after the injection attempt: got %q, %v; want B", got, err)
	}
	return st
}

// checkRenderMetrics checks that lb's metrics count per template, and
// that its applied counter reads applied.
func checkRenderMetrics(t *testing.T, lb *agentProc, applied uint64) {
	t.Helper()
	resp, err := http.Get("http://" + lb.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`shoal_render_reloads_total{template="edge"}`, `shoal_render_failures_total{template="edge"}`, `shoal_render_ok{template="edge"} 0`,
		fmt.Sprintf(`shoal_render_applied_total{template="edge"} %d`, applied), `shoal_haproxy_runtime_commands_total{template="edge"}`,
		`shoal_haproxy_runtime_fallbacks_total{reason="structure",template="edge"}`, `shoal_haproxy_runtime_drift_repairs_total{template="edge"}`,
		`shoal_haproxy_draining_servers{template="edge"}`, `shoal_haproxy_ghost_servers{template="edge"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics: %s missing", want)
		}
	}
}

// waitOneWorker waits until haproxy's master lists a single worker: the
// old configuration's worker has finished and exited.
func waitOneWorker(t *testing.T, hp *backendtest.HAProxyProcess) {
	t.Helper()
	testutil.WaitFor(t, wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := hp.Backend.Status(ctx)
		if err != nil {
			return err
		}
		if len(st.Workers) != 1 {
			return fmt.Errorf("haproxy lists workers %v, want one", st.WorkerPIDs())
		}
		return nil
	})
}

// TestGateway_Nginx: the built-in nginx template rendered, validated with
// nginx -t, installed and reloaded by SIGHUP; requests reach both backends,
// and shoal render -once reloads on request.
func TestGateway_Nginx(t *testing.T) {
	t.Parallel()
	_, portA := webServer(t, "A")
	_, portB := webServer(t, "B")
	listen := backendtest.FreePort(t)
	prefix := backendtest.ShortTempDir(t)
	conf := filepath.Join(prefix, "nginx.conf")
	pid := filepath.Join(prefix, "nginx.pid")
	// Start nginx with an empty http block; the agent fills it in.
	writeFile(t, conf, fmt.Sprintf("pid %s;\nevents {}\nhttp {}\n", pid))
	backendtest.StartNginx(t, prefix, conf)

	lbConf := filepath.Join(prefix, "lb.json")
	writeFile(t, lbConf, fmt.Sprintf(`{"template": {
  "source": "builtin:nginx", "backend": "nginx", "destination": %q,
  "prefix": %q, "pid_file": %q, "error_log": %q,
  "wait": {"min": "50ms", "max": "500ms"},
  "vars": {"pid": %q, "error_log": %q, "bind": "127.0.0.1", "listen.web": "%d"}
}}`, conf, prefix, pid, filepath.Join(prefix, "error.log"), pid, filepath.Join(prefix, "error.log"), listen))

	key := gossipKey(t)
	webA := startAgent(t, "web-a", nil, "-encrypt", key, "-service", fmt.Sprintf("web:%d", portA))
	startAgent(t, "web-b", nil, "-encrypt", key, "-service", fmt.Sprintf("web:%d", portB), "-join", webA.gossip)
	lb := startAgent(t, "lb", nil, "-encrypt", key, "-config-file", lbConf, "-join", webA.gossip)

	st := lb.waitRender("2 backends installed and reloaded", func(s api.TemplateStatus) bool {
		return s.OK && s.Backends == 2 && s.Reloads >= 1
	})
	if st.Backend != "nginx" {
		t.Errorf("backend: got %q, want nginx", st.Backend)
	}
	waitServedBy(t, listen, "A", "B")

	// shoal render -once: renders, finds the file unchanged, reloads anyway.
	out := mustShoal(t, lb, "render", "-once")
	if !strings.Contains(out, conf) || !strings.Contains(out, " ok ") {
		t.Errorf("render -once: got\n%s", out)
	}
	if s, _ := lb.renderStatus(); s.Reloads != st.Reloads+1 || s.Installs != st.Installs {
		t.Errorf("after render -once: reloads %d installs %d, want %d and %d", s.Reloads, s.Installs, st.Reloads+1, st.Installs)
	}
	waitServedBy(t, listen, "A", "B")

	// SIGHUP with a template set that does not build (the source is
	// missing) keeps the running one; a good set replaces it.
	good := readFile(t, lbConf)
	writeFile(t, lbConf, strings.Replace(good, `"builtin:nginx"`, `"/no/such/file.tmpl"`, 1))
	if err := lb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lb.waitLog("reload: component kept its previous config")
	mustShoal(t, lb, "render", "-once")
	writeFile(t, lbConf, strings.Replace(good, `"template": {`, `"template": {"name": "web-lb",`, 1))
	if err := lb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lb.waitRender("the renamed template rendered", func(s api.TemplateStatus) bool { return s.Name == "web-lb" && s.OK && s.Renders > 0 })
	waitServedBy(t, listen, "A", "B")
}

// TestGateway_Dev: shoal agent -dev renders the built-in HAProxy template
// into ./dev-data, validated by haproxy -c, and never tries to reload.
func TestGateway_Dev(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "dev", nil, "-dev", "-service", "web:8080")
	st := a.waitRender("a validated render", func(s api.TemplateStatus) bool { return s.Renders > 0 })
	if !st.OK || st.Backend != "haproxy" || st.Reloads != 0 || st.Backends != 1 {
		t.Errorf("dev status: got %+v, want ok, haproxy, 1 backend, no reload", st)
	}
	cfg := readFile(t, filepath.Join(a.cmd.Dir, "dev-data", "haproxy.cfg"))
	if !strings.Contains(cfg, "server dev 127.0.0.1:8080") {
		t.Errorf("dev-data/haproxy.cfg:\n%s", cfg)
	}
}
