package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

// registerBody parses `shoal services register` arguments into the JSON
// body the verb sends.
func registerBody(t *testing.T, args ...string) (string, error) {
	t.Helper()
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := defineRegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	req, err := f.request(fs.Args())
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(req)
	return string(b), err
}

func TestRegisterFlags_Body(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"minimal", []string{"-name", "web", "-port", "8080"},
			`{"id":"web","name":"web","port":8080,"weight":1}`},
		{"everything with an http check", []string{"-id", "web-2", "-name", "web", "-port", "8081", "-address", "127.0.0.2",
			"-tag", "v2", "-tag", "eu", "-meta", "version=1.4", "-weight", "5",
			"-check-http", "http://127.0.0.1:8081/health", "-check-interval", "1s", "-check-timeout", "500ms"},
			`{"id":"web-2","name":"web","address":"127.0.0.2","port":8081,"tags":["v2","eu"],"weight":5,"meta":{"version":"1.4"},` +
				`"checks":[{"http":"http://127.0.0.1:8081/health","interval":"1s","timeout":"500ms"}]}`},
		{"ttl check starting passing", []string{"-name", "job", "-port", "1", "-check-ttl", "30s", "-check-id", "job-ttl", "-check-initial", "passing"},
			`{"id":"job","name":"job","port":1,"weight":1,"checks":[{"id":"job-ttl","ttl":"30s","initial_status":"passing"}]}`},
		{"script check after --", []string{"-name", "db", "-port", "5432", "-check-interval", "5s", "--", "/usr/bin/pg_isready", "-q"},
			`{"id":"db","name":"db","port":5432,"weight":1,"checks":[{"args":["/usr/bin/pg_isready","-q"],"interval":"5s"}]}`},
		{"tcp check with counts", []string{"-name", "db", "-port", "5432", "-check-tcp", "127.0.0.1:5432",
			"-check-success-before-passing", "2", "-check-failures-before-critical", "3"},
			`{"id":"db","name":"db","port":5432,"weight":1,"checks":[{"tcp":"127.0.0.1:5432","success_before_passing":2,"failures_before_critical":3}]}`},
	} {
		got, err := registerBody(t, tc.args...)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s (err %v), want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestRegisterFlags_Errors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-port", "80"}, "-name is required"},
		{[]string{"-name", "web"}, "-port is required"},
		{[]string{"-name", "web", "-port", "70000"}, "service port 70000 must be from 1 to 65535"},
		{[]string{"-name", "web", "-port", "80", "-address", "web.local"}, `address "web.local" is not an IP address`},
		{[]string{"-name", "web", "-port", "80", "-meta", "novalue"}, `-meta: "novalue" is not KEY=VALUE`},
		{[]string{"-name", "web", "-port", "80", "-check-tcp", "127.0.0.1:80", "-check-ttl", "5s"}, "give one check"},
		{[]string{"-name", "web", "-port", "80", "-check-interval", "5s"}, "check options are set but no check"},
		{[]string{"-name", "web", "-port", "80", "-check-tcp", "127.0.0.1:80", "-check-interval", "10ms"}, "check[0]: interval = 10ms: must be between 100ms"},
		{[]string{"-name", "web", "-port", "80", "-check-ttl", "5s", "-check-initial", "up"}, `initial_status: "up" is not passing`},
	} {
		_, err := registerBody(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestMaintRequest(t *testing.T) {
	for _, tc := range []struct {
		enable, disable bool
		service, reason string
		path, body      string // body "" = error expected, path "" = show
		wantErr         string
	}{
		{true, false, "", "kernel upgrade", "/v1/agent/maintenance", `{"enable":true,"reason":"kernel upgrade"}`, ""},
		{false, true, "web-1", "", "/v1/agent/services/web-1/maintenance", `{"enable":false}`, ""},
		{true, false, "a/b", "", "/v1/agent/services/a%2Fb/maintenance", `{"enable":true}`, ""},
		{false, false, "", "", "", "", ""},
		{true, true, "", "", "", "", "-enable and -disable exclude each other"},
		{false, true, "", "why", "", "", "-reason goes with -enable"},
		{false, false, "web", "", "", "", "-service and -reason go with -enable or -disable"},
	} {
		path, req, err := maintRequest(tc.enable, tc.disable, tc.service, tc.reason)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: got %v, want %q", tc, err, tc.wantErr)
			}
			continue
		}
		b, _ := json.Marshal(req)
		if err != nil || path != tc.path || (tc.path != "" && string(b) != tc.body) {
			t.Errorf("%+v: got %s %s (err %v), want %s %s", tc, path, b, err, tc.path, tc.body)
		}
	}
}

func TestCheck_ArgsInAnyOrder(t *testing.T) {
	for _, args := range [][]string{
		{"pass", "web-ttl", "-note", "all good"},
		{"-note", "all good", "pass", "web-ttl"},
		{"pass", "-note", "all good", "web-ttl"},
	} {
		fs := flag.NewFlagSet("check", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		note := fs.String("note", "", "")
		pos, _, ok := parseInterspersed(fs, args)
		if !ok || strings.Join(pos, " ") != "pass web-ttl" || *note != "all good" {
			t.Errorf("%q: got %q note %q ok %v, want [pass web-ttl] note \"all good\"", args, pos, *note, ok)
		}
	}
	if got := checkPath("web/ttl", "warn"); got != "/v1/agent/checks/web%2Fttl/warn" {
		t.Errorf("got path %s", got)
	}
	if b, _ := json.Marshal(checkBody("slow")); string(b) != `{"note":"slow"}` {
		t.Errorf("got body %s", b)
	}
	if checkBody("") != nil {
		t.Error("an empty note sends a body, want none")
	}
	var out bytes.Buffer
	if code := runCheck(env{stdout: &out, stderr: &out}, []string{"ok", "web-ttl"}); code != exitUsage || !strings.Contains(out.String(), `status "ok" is not pass, warn or fail`) {
		t.Errorf("got %d %q, want a usage error", code, out.String())
	}
}

func TestPrintMembers_Health(t *testing.T) {
	members := []api.Member{
		{Name: "a", Addr: "127.0.0.1", Port: 7946, Status: "alive", Tags: map[string]string{"role": "web"}, Health: "passing",
			Services: []api.Service{{ID: "web", Name: "web", Port: 80, Health: "passing"}}},
		{Name: "b", Addr: "127.0.0.2", Port: 7946, Status: "alive", Tags: map[string]string{}, Health: "maintenance",
			Checks:   []api.CheckStatus{{ID: "_maintenance", Status: "maintenance", Note: "kernel\x1b[2J"}},
			Services: []api.Service{{ID: "web", Name: "web", Port: 80, Health: "maintenance"}}},
		{Name: "c", Addr: "127.0.0.3", Port: 7946, Status: "alive", Tags: map[string]string{}, Health: "passing",
			Services: []api.Service{{ID: "web-1", Name: "web", Port: 80, Health: "critical"}, {ID: "web-2", Name: "web", Port: 81, Health: "warning"}}},
	}
	var out bytes.Buffer
	printMembers(&out, members, false)
	want := "" +
		"a  127.0.0.1:7946  alive  role=web\n" +
		"b  127.0.0.2:7946  alive            health=maintenance (kernel\\x1b[2J), 1 of 1 services out\n" +
		"c  127.0.0.3:7946  alive            health=passing, 1 of 2 services out\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	printMembers(&out, members[1:], true)
	for _, s := range []string{"Checks: _maintenance=maintenance(kernel\\x1b[2J)", "Services: web:80(maintenance)", "web:80[web-1](critical) web:81[web-2](warning)"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("detailed: got\n%s\nwant it to contain %q", out.String(), s)
		}
	}
}

func TestServices_ClusterInstances(t *testing.T) {
	members := []api.Member{
		{Name: "b", Addr: "127.0.0.2", Services: []api.Service{{ID: "web", Name: "web", Port: 80}},
			Checks: []api.CheckStatus{{ID: "disk", Status: "critical"}}},
		{Name: "a", Addr: "127.0.0.1", Services: []api.Service{{ID: "db", Name: "db", Port: 5432, Health: "passing"},
			{ID: "web-2", Name: "web", Address: "127.0.0.9", Port: 81, Health: "warning"}}},
	}
	var out bytes.Buffer
	printInstances(env{stdout: &out}, clusterInstances(members))
	want := "" +
		"NAME  ID     MEMBER  ADDRESS         HEALTH   TAGS\n" +
		"db    db     a       127.0.0.1:5432  passing\n" +
		"web   web-2  a       127.0.0.9:81    warning\n" +
		"web   web    b       127.0.0.2:80    passing\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	insts := clusterInstances(members)
	if len(insts) != 3 || insts[0].ID != "db" || insts[1].Member != "a" || insts[2].Member != "b" || len(insts[2].Checks) != 1 || insts[2].Health != "passing" {
		t.Errorf("got %+v, want db, web-2 on a, web on b with b's node check", insts)
	}
}

func TestPrintLocalServices(t *testing.T) {
	var out bytes.Buffer
	printLocalServices(env{stdout: &out}, api.AgentServices{Node: "n1", Health: "critical",
		NodeChecks: []api.CheckStatus{{ID: "disk", Status: "critical", Kind: "script", Output: "only 2%\nfree"}},
		Services: []api.LocalService{{ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v2"}, Source: "runtime", Health: "maintenance",
			Maintenance: true, MaintenanceReason: "deploy",
			Checks: []api.CheckStatus{{ID: "web-1-check", Status: "passing", Kind: "http", Note: "HTTP 200", Output: "ok"}}}}})
	want := "" +
		"node n1: critical\n" +
		"  check disk: critical (script): only 2% free\n" +
		"web-1 (web) - port 8080: maintenance, runtime, tags v2, maintenance: deploy\n" +
		"  check web-1-check: passing (http), HTTP 200: ok\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
