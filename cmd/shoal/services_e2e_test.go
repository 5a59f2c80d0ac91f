package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// Services and health end to end (issue 11): real agents, real checks
// against real servers on loopback, answers read by a DNS client, the
// CLI and haproxy -c.

// healthServer serves 200 on /health until closed.
func healthServer(t *testing.T) (*httptest.Server, int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, srv.Listener.Addr().(*net.TCPAddr).Port
}

// waitSRV waits until a's DNS answers name's SRV with exactly want
// ("target:port", sorted; none: NXDOMAIN or no answer).
func waitSRV(t *testing.T, a *agentProc, name string, want ...string) {
	t.Helper()
	testutil.WaitFor(t, wait, func() error {
		got, _, err := srvTargets(a.dns, "udp", name)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: SRV %s: got %v, want %v", a.name, name, got, want)
		}
		return nil
	})
}

// txt returns the TXT strings of name from a's DNS.
func txt(a *agentProc, name string) ([]string, error) {
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeTXT)
	r, _, err := c.Exchange(q, a.dns)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*mdns.TXT); ok {
			out = append(out, t.Txt...)
		}
	}
	return out, nil
}

// localServices reads GET /v1/agent/services.
func (a *agentProc) localServices() (api.AgentServices, error) {
	var out api.AgentServices
	resp, err := http.Get("http://" + a.http + "/v1/agent/services")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("GET /v1/agent/services: %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// waitLocal waits until a's instance id satisfies cond.
func (a *agentProc) waitLocal(id, what string, cond func(api.LocalService) bool) api.LocalService {
	a.t.Helper()
	var got api.LocalService
	testutil.WaitFor(a.t, wait, func() error {
		out, err := a.localServices()
		if err != nil {
			return err
		}
		for _, s := range out.Services {
			if s.ID == id {
				got = s
				if cond(s) {
					return nil
				}
				return fmt.Errorf("%s: instance %s is %+v, want %s", a.name, id, s, what)
			}
		}
		return fmt.Errorf("%s: no instance %s in %+v", a.name, id, out.Services)
	})
	return got
}

// waitServicesLine waits until `shoal services` on a prints a line with
// every one of want's words.
func waitServicesLine(t *testing.T, a *agentProc, want ...string) {
	t.Helper()
	testutil.WaitFor(t, wait, func() error {
		out := mustShoal(t, a, "services")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(f, w) }) {
				return nil
			}
		}
		return fmt.Errorf("shoal services on %s: no line with %v in:\n%s", a.name, want, out)
	})
}

// TestServices_HTTPCheckDrivesDNSAndLB: a config service with an http
// check against a real server is answered by every agent's DNS, listed by
// `shoal services` and rendered into haproxy's config (checked by haproxy
// -c) once passing; when the server stops it turns critical and leaves
// every agent's DNS and the rendered file, while a service without checks
// stays.
func TestServices_HTTPCheckDrivesDNSAndLB(t *testing.T) {
	t.Parallel()
	srv, port := healthServer(t)
	dir := t.TempDir()
	webConf := filepath.Join(dir, "web.hcl")
	writeFile(t, webConf, fmt.Sprintf(`
data_dir = %q
service {
  name = "web"
  port = %d
  check {
    http     = %q
    interval = "200ms"
    timeout  = "1s"
  }
}
`, filepath.Join(dir, "web-data"), port, srv.URL+"/health"))
	dest := filepath.Join(dir, "haproxy.cfg")
	lbConf := filepath.Join(dir, "lb.hcl")
	writeFile(t, lbConf, fmt.Sprintf(`
template {
  name        = "edge"
  source      = "builtin:haproxy"
  destination = %q
  backend     = "command"
  check       = ["haproxy", "-c", "-f", "{{path}}"]
  reload      = ["true"]
  wait {
    min = "50ms"
    max = "500ms"
  }
  vars = { bind = "127.0.0.1", "listen.web" = "%d", "listen.static" = "%d" }
}
`, dest, 20001, 20002)) // haproxy -c binds nothing

	key := gossipKey(t)
	web := startAgent(t, "hc-web", nil, "-encrypt", key, "-config-file", webConf)
	other := startAgent(t, "hc-other", nil, "-encrypt", key, "-service", "static:9999", "-join", web.gossip)
	lb := startAgent(t, "hc-lb", nil, "-encrypt", key, "-config-file", lbConf, "-join", web.gossip)
	agents := []*agentProc{web, other, lb}
	for _, a := range agents {
		a.waitStatus(map[string]string{"hc-web": "alive", "hc-other": "alive", "hc-lb": "alive"})
	}

	want := fmt.Sprintf("hc-web.node.shoal.:%d", port)
	for _, a := range agents {
		waitSRV(t, a, "web.service.shoal.", want)
	}
	waitServicesLine(t, lb, "web", "hc-web", "passing")
	web.waitLocal("web", "passing, checked by http", func(s api.LocalService) bool {
		return s.Health == "passing" && len(s.Checks) == 1 && s.Checks[0].Kind == "http" && s.Source == "config"
	})
	lb.waitRender("web and static rendered", func(s api.TemplateStatus) bool {
		cfg, _ := os.ReadFile(dest)
		return s.OK && strings.Contains(string(cfg), "listen svc_web") && strings.Contains(string(cfg), "listen svc_static")
	})

	killed := time.Now()
	srv.Close() // the web server dies; its agent keeps running
	for _, a := range agents {
		waitSRV(t, a, "web.service.shoal.")
	}
	// A measurement, not a bound: polling adds up to its own interval.
	t.Logf("web server closed: out of DNS on all 3 agents after %s (check interval 200ms)", time.Since(killed).Round(time.Millisecond))
	waitSRV(t, lb, "static.service.shoal.", "hc-other.node.shoal.:9999")
	waitServicesLine(t, lb, "web", "hc-web", "critical")
	lb.waitRender("web gone, static kept", func(s api.TemplateStatus) bool {
		cfg, _ := os.ReadFile(dest)
		return s.OK && !strings.Contains(string(cfg), "svc_web") && strings.Contains(string(cfg), "listen svc_static")
	})
	metrics := httpGet(t, web, "/metrics")
	for _, m := range []string{`shoal_check_status{check="web-check",service="web",status="critical"} 1`,
		`shoal_check_transitions_total{check="web-check",service="web",status="critical"} 1`,
		`shoal_services_publishes_total{result="ok"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics of hc-web lack %s", m)
		}
	}
}

// httpGet returns the body of a GET to a's API.
func httpGet(t *testing.T, a *agentProc, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + a.http + path)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

// TestServices_RuntimeStateSurvivesRestart: a runtime registration with
// a ttl check, a ttl pass, node maintenance and a tag set through the API
// are all back after the agent restarts on the same data dir.
func TestServices_RuntimeStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	a := startAgentIn(t, dir, "rs", nil, "-data-dir", data)

	out := mustShoal(t, a, "services", "register", "-name", "api", "-port", "9000", "-tag", "v1", "-check-ttl", "1h")
	if !strings.Contains(out, "health critical") {
		t.Errorf("a new ttl check should start critical: %q", out)
	}
	waitSRV(t, a, "api.service.shoal.")
	mustShoal(t, a, "check", "pass", "api-check", "-note", "warmed up")
	a.waitLocal("api", "passing", func(s api.LocalService) bool { return s.Health == "passing" })
	waitSRV(t, a, "api.service.shoal.", "rs.node.shoal.:9000")
	mustShoal(t, a, "tags", "-set", "team=blue")

	mustShoal(t, a, "maint", "-enable", "-reason", "deploy")
	waitSRV(t, a, "api.service.shoal.")
	waitTXT(t, a, "rs.node.shoal.", "maintenance=deploy")
	if out := mustShoal(t, a, "members"); !strings.Contains(out, "maintenance") {
		t.Errorf("shoal members during maintenance: %q, want it named", out)
	}

	// Restart on the same data dir.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.waitExit()
	b := startAgentIn(t, dir, "rs", nil, "-data-dir", data)
	s := b.waitLocal("api", "runtime, ttl passing, in node maintenance", func(s api.LocalService) bool {
		return s.Source == "runtime" && s.Health == "maintenance" && len(s.Checks) == 1 &&
			s.Checks[0].Status == "passing" && s.Checks[0].Note == "warmed up"
	})
	if !slices.Equal(s.Tags, []string{"v1"}) || s.Port != 9000 {
		t.Errorf("restored registration: got %+v", s)
	}
	waitTXT(t, b, "rs.node.shoal.", "maintenance=deploy")
	if out := mustShoal(t, b, "tags"); !strings.Contains(out, "team=blue") {
		t.Errorf("tags after restart: %q, want team=blue kept", out)
	}
	mustShoal(t, b, "maint", "-disable")
	waitSRV(t, b, "api.service.shoal.", "rs.node.shoal.:9000")
}

// waitTXT waits until a's TXT for name includes want.
func waitTXT(t *testing.T, a *agentProc, name, want string) {
	t.Helper()
	testutil.WaitFor(t, wait, func() error {
		got, err := txt(a, name)
		if err != nil {
			return err
		}
		if !slices.Contains(got, want) {
			return fmt.Errorf("%s: TXT %s: got %q, want %q among them", a.name, name, got, want)
		}
		return nil
	})
}

// TestServices_BadInput: checks that hang (an http target that never
// answers, a script that never exits) time out as critical while the API
// keeps answering, and bad registrations are refused with the field named,
// the right HTTP status and the right CLI exit code.
func TestServices_BadInput(t *testing.T) {
	t.Parallel()
	a := startHangingChecks(t)
	checkHangingChecksTimeOut(t, a)
	checkCLIRefusesBadServices(t, a)
	checkAPIRefusesBadServices(t, a)
}

// startHangingChecks starts an agent whose config has service web, with
// an http check on a listener that accepts and never answers, and service
// job, with a script check that never exits.
func startHangingChecks(t *testing.T) *agentProc {
	t.Helper()
	hang, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	dir := t.TempDir()
	conf := filepath.Join(dir, "svc.hcl")
	writeFile(t, conf, fmt.Sprintf(`
service {
  name = "web"
  port = 8080
  check {
    http     = "http://%s/health"
    interval = "1s"
    timeout  = "300ms"
  }
}
service {
  name = "job"
  port = 8081
  check {
    args     = ["sleep", "3600"]
    interval = "1s"
    timeout  = "300ms"
  }
}
`, hang.Addr()))
	return startAgent(t, "bad", nil, "-config-file", conf)
}

// checkHangingChecksTimeOut checks that both hanging checks turn critical
// on a timeout while the API and the CLI keep answering.
func checkHangingChecksTimeOut(t *testing.T, a *agentProc) {
	t.Helper()
	web := a.waitLocal("web", "critical on a timeout", func(s api.LocalService) bool {
		return s.Health == "critical" && len(s.Checks) == 1 && strings.Contains(strings.ToLower(s.Checks[0].Note+s.Checks[0].Output), "timeout")
	})
	job := a.waitLocal("job", "critical on a timeout", func(s api.LocalService) bool {
		return s.Health == "critical" && len(s.Checks) == 1 && strings.Contains(strings.ToLower(s.Checks[0].Note+s.Checks[0].Output), "timed out")
	})
	t.Logf("hanging checks: web %q, job %q", web.Checks[0].Note, job.Checks[0].Note)
	// The API answers while the checks hang (each call has its own
	// deadline through the default client only; it must simply succeed).
	for range 5 {
		if _, err := a.localServices(); err != nil {
			t.Fatalf("API while checks hang: %v", err)
		}
		mustShoal(t, a, "members")
	}
}

// checkCLIRefusesBadServices checks that shoal services and shoal check
// refuse bad registrations, config services and unknown or non-TTL
// checks with the right exit code and the field named.
func checkCLIRefusesBadServices(t *testing.T, a *agentProc) {
	t.Helper()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"invalid name", []string{"-name", "a b", "-port", "80"}, 2, `service name "a b" must be a DNS label`},
		{"port 0", []string{"-name", "x", "-port", "0"}, 2, "-port is required"},
		{"port too big", []string{"-name", "x", "-port", "70000"}, 2, "port 70000 must be from 1 to 65535"},
		{"duplicate config id", []string{"-name", "web", "-port", "9000"}, 1, `service "web": id: already defined in the config files`},
	} {
		r := shoal(t, a, append([]string{"services", "register"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: shoal services register %q: exit %d, stderr %q; want exit %d with %q", tc.name, tc.args, r.code, r.stderr, tc.code, tc.stderr)
		}
	}
	if r := shoal(t, a, "services", "deregister", "web"); r.code != 1 || !strings.Contains(r.stderr, "defined in the config files") {
		t.Errorf("deregister a config service: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := shoal(t, a, "check", "pass", "nope"); r.code != 1 || r.stderr != "shoal check: \"nope\": no such check\n" {
		t.Errorf("pass an unknown check: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := shoal(t, a, "check", "pass", "web-check"); r.code != 1 || !strings.Contains(r.stderr, "not a ttl check") {
		t.Errorf("pass an http check: exit %d, stderr %q", r.code, r.stderr)
	}
}

// checkAPIRefusesBadServices checks the API's statuses and messages for
// the same bad input, straight.
func checkAPIRefusesBadServices(t *testing.T, a *agentProc) {
	t.Helper()
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/v1/agent/services/x", `{"name":"a b","port":80}`, 400, `must be a DNS label`},
		{"PUT", "/v1/agent/services/x", `{"name":"x","port":0}`, 400, `port 0 must be from 1 to 65535`},
		{"PUT", "/v1/agent/services/x", `{"name":"x","port":80,"checks":[{"tcp":"127.0.0.1:80","interval":"10ms"}]}`, 400, `interval = 10ms`},
		{"PUT", "/v1/agent/services/x", `{"name":"x","port":80,"checks":[{"ttl":"5s","tcp":"127.0.0.1:80"}]}`, 400, `tcp and ttl are set`},
		{"PUT", "/v1/agent/services/x", `{"name":"x","port":80,"checks":[{"id":"web-check","ttl":"5s"}]}`, 409, `check id \"web-check\": used by service \"web\" and by service \"x\"`},
		{"PUT", "/v1/agent/services/web", `{"name":"web","port":9000}`, 409, `already defined in the config files`},
		{"DELETE", "/v1/agent/services/web", "", 409, `defined in the config files`},
		{"DELETE", "/v1/agent/services/nope", "", 404, `no such service`},
		{"PUT", "/v1/agent/checks/nope/pass", "", 404, `no such check`},
		{"PUT", "/v1/agent/services/nope/maintenance", `{"enable":true}`, 404, `no such service`},
	} {
		code, body := apiCall(t, a, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: got %d %s, want %d with %s", tc.method, tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
}

// apiCall sends one request to a's API.
func apiCall(t *testing.T, a *agentProc, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.http+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandlers_HealthEvent: a "health" handler on one agent learns of
// another agent's instance turning critical and passing, one stdin line
// per changed instance after the member's own line, SERF_EVENT=health; a
// check flapped 20 times within a batch runs it a few times, not 20.
func TestHandlers_HealthEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "dump.sh")
	writeFile(t, script, dumpScript)
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Long batching periods, so the flapping below is one or two batches
	// however slow the machine.
	batch := filepath.Join(dir, "batch.hcl")
	writeFile(t, batch, "member_quiescent_period = \"2s\"\nmember_coalesce_period = \"20s\"\n")
	watcher := startAgent(t, "he-watch", []string{"OUT_DIR=" + out}, "-config-file", batch, "-event-handler", "health="+script)
	b := startAgent(t, "he-b", nil, "-join", watcher.gossip)
	watcher.waitStatus(map[string]string{"he-watch": "alive", "he-b": "alive"})

	mustShoal(t, b, "services", "register", "-name", "api", "-port", "9000", "-check-ttl", "1h")
	env, _ := waitDumpLine(t, out, "health", "he-b\tapi\tapi\tcritical\n")
	if !slices.Contains(env, "SERF_EVENT=health") || !slices.Contains(env, "SHOAL_EVENT=health") {
		t.Errorf("health handler env: %q, want SERF_EVENT=health", env)
	}
	mustShoal(t, b, "check", "pass", "api-check")
	_, stdin := waitDumpLine(t, out, "health", "he-b\tapi\tapi\tpassing\n")
	if !strings.HasPrefix(stdin, "he-b\t*\t*\tpassing\n") {
		t.Errorf("health stdin %q: want the member's own line first", stdin)
	}

	seen, _ := filepath.Glob(filepath.Join(out, "health.*.stdin"))
	for i := range 20 {
		verb := []string{"fail", "pass"}[i%2]
		if code, body := apiCall(t, b, "PUT", "/v1/agent/checks/api-check/"+verb, ""); code != http.StatusOK {
			t.Fatalf("flap %d: %d %s", i, code, body)
		}
	}
	mustShoal(t, b, "check", "fail", "api-check", "-note", "final")
	var runs []string // stdin of the runs after the flapping began
	testutil.WaitFor(t, wait, func() error {
		runs = runs[:0]
		paths, _ := filepath.Glob(filepath.Join(out, "health.*.stdin"))
		found := false
		for _, p := range paths {
			if slices.Contains(seen, p) {
				continue
			}
			in, _ := os.ReadFile(p)
			runs = append(runs, string(in))
			found = found || strings.Contains(string(in), "he-b\tapi\tapi\tcritical\n")
		}
		if !found {
			return fmt.Errorf("no health run with api critical after the flapping; runs %q", runs)
		}
		return nil
	})
	if len(runs) > 4 {
		t.Errorf("21 check updates ran the health handler %d times, want them batched (at most 4): %q", len(runs), runs)
	}
	t.Logf("21 check updates: %d health handler runs", len(runs))
}
