package render

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

// instanceOf is a web instance with its own id and health.
func instanceOf(id string, port uint16, h node.Health) node.Service {
	s := svc("web", port, 1)
	s.ID, s.Health = id, h
	return s
}

// healthCluster has web instances in every health state:
//
//	web1  web (8080), web-2 (8081) and web-own at 10.9.0.1:9000, passing
//	web2  web, warning, meta version=1.2
//	web3  web and api, critical (check note "HTTP 503\n# injected")
//	web4  web in maintenance
//	web5  web passing, but the node check is critical (the owner did not
//	      fold it in, so the data must take the worst itself)
func healthCluster() *node.Snapshot {
	own := instanceOf("web-own", 9000, node.HealthPassing)
	own.Address = net.IPv4(10, 9, 0, 1)
	warn := instanceOf("web", 8080, node.HealthWarning)
	warn.Meta = map[string]string{"version": "1.2"}
	crit := instanceOf("web", 8080, node.HealthCritical)
	crit.Checks = []node.CheckState{{ID: "http", Name: "HTTP on :8080", ServiceID: "web",
		Status: node.HealthCritical, Note: "HTTP 503\n# injected"}}
	api := svc("api", 9090, 1)
	api.ID, api.Health = "api", node.HealthCritical
	maint := instanceOf("web", 8080, node.HealthMaintenance)
	maint.Checks = []node.CheckState{{ID: node.MaintenanceCheckID, ServiceID: "web",
		Status: node.HealthMaintenance, Note: "deploy"}}
	web5 := member("web5", 15, instanceOf("web", 8080, node.HealthPassing))
	web5.Health = node.HealthCritical
	web5.Checks = []node.CheckState{{ID: "disk", Status: node.HealthCritical, Note: "disk full"}}
	return snapshot("lb1", 1,
		member("lb1", 1),
		member("web1", 11, instanceOf("web", 8080, node.HealthPassing), instanceOf("web-2", 8081, node.HealthPassing), own),
		member("web2", 12, warn),
		member("web3", 13, crit, api),
		member("web4", 14, maint),
		web5,
	)
}

// service gives the routable instances by default and others on request;
// each instance has its id, own address, health, checks and meta.
func TestFuncs_ServiceHealth(t *testing.T) {
	runTextCases(t, healthCluster, []textCase{
		{"routable by default", `{{ range service "web" }}{{ .ServerName }}={{ .HostPort }}/{{ .Status }} {{ end }}`,
			"web1=10.0.0.11:8080/passing web1:web-2=10.0.0.11:8081/passing web1:web-own=10.9.0.1:9000/passing web2=10.0.0.12:8080/warning ", 4},
		{"any", `{{ range service "web|any" }}{{ .ServerName }}/{{ .Status }} {{ end }}`,
			"web1/passing web1:web-2/passing web1:web-own/passing web2/warning web3/critical web4/maintenance web5/critical ", 7},
		{"passing only", `{{ range service "web|passing" }}{{ .ID }}@{{ .Node }} {{ end }}`,
			"web@web1 web-2@web1 web-own@web1 ", 3},
		{"the ones taken out", `{{ range service "web|critical,maintenance" }}{{ .Node }} {{ end }}`,
			"web3 web4 web5 ", 3},
		{"no routable instance", `{{ len (service "api") }} {{ len (service "api|any") }}`, "0 1", 1},
		{"services", `{{ range services }}{{ .Name }}:{{ len .Instances }} {{ end }}`, "web:4 ", 4},
		{"services any", `{{ range services "any" }}{{ .Name }}:{{ len .Instances }} {{ end }}`, "api:1 web:7 ", 8},
		{"services critical", `{{ range services "critical" }}{{ .Name }}:{{ len .Instances }} {{ end }}`, "api:1 web:2 ", 3},
		{"the map holds routable ones", `{{ len .Services.web }} {{ len .Services }}`, "4 1", 0},
		{"checks explain the status, notes made safe",
			`{{ range service "web|critical" }}{{ .Node }}:{{ range .Checks }} {{ .ID }}/{{ .Status }}/{{ .Note }}{{ end }};{{ end }}`,
			"web3: http/critical/HTTP_503___injected;web5: disk/critical/disk_full;", 2},
		{"maintenance note", `{{ range service "web|maintenance" }}{{ (index .Checks 0).Note }}{{ end }}`, "deploy", 1},
		{"meta", `{{ range service "web" }}{{ index .Meta "version" }},{{ end }}`, ",,,1.2,", 4},
		{"member health", `{{ range members }}{{ .Name }}={{ .Health }} {{ end }}`,
			"lb1=passing web1=passing web2=passing web3=passing web4=passing web5=critical ", 0},
		{"member instances, any health", `{{ range members }}{{ len .Services }}{{ end }}`, "031211", 0},
	})
}

func TestFuncs_HealthFilterErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{{ service "web|healthy" }}`, `service "web|healthy": health "healthy" is not any, passing, warning, critical or maintenance`},
		{`{{ services "passing,ok" }}`, `services "passing,ok": health "ok" is not any`},
		{`{{ services "any" "passing" }}`, `services: want at most one filter`},
	} {
		_, _, err := execText(t, tc.text, healthCluster())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.text, err, tc.want)
		}
	}
}

// Drain counts routable instances only: a suspect member's healthy
// instance is not drained when every instance of an alive member is
// critical, since draining it would leave nothing.
func TestData_DrainFollowsHealth(t *testing.T) {
	snap := withStatus(snapshot("lb1", 1,
		member("web1", 11, instanceOf("web", 8080, node.HealthCritical)),
		member("web2", 12, instanceOf("web", 8080, node.HealthPassing)),
	), 2, node.StatusSuspect, "web2")
	got, _, err := execText(t, `{{ range service "web|any" }}{{ .Node }}:{{ .Status }}:{{ .NodeStatus }}:{{ .Drain }} {{ end }}`, snap)
	if err != nil {
		t.Fatal(err)
	}
	if want := "web1:critical:alive:false web2:passing:suspect:false "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Instance ids and meta are untrusted like tags: an unsafe one leaves the
// member out. Check text is made safe instead, so a note cannot take a
// member out of the load balancer.
func TestCheckMember_InstanceFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(s *node.Service)
		reason string // "" = accepted
	}{
		{"a plain id and meta", func(s *node.Service) { s.ID, s.Meta = "web-2.a_b", map[string]string{"v": "1.2+x", "e": ""} }, ""},
		{"an unsafe check note", func(s *node.Service) {
			s.Checks = []node.CheckState{{ID: "a b", Name: "}\n", Note: "x;\nserver evil 1.2.3.4:80"}}
		}, ""},
		{"space in id", func(s *node.Service) { s.ID = "web 2" }, `instance id "web 2"`},
		{"colon in id", func(s *node.Service) { s.ID = "web:2" }, `instance id "web:2"`},
		{"newline in meta value", func(s *node.Service) { s.Meta = map[string]string{"v": "1\n    server evil"} }, `meta v value`},
		{"quote in meta key", func(s *node.Service) { s.Meta = map[string]string{`k"`: "1"} }, `meta key`},
		{"long meta value", func(s *node.Service) { s.Meta = map[string]string{"k": strings.Repeat("a", 256)} }, `meta k value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := member("web1", 1, svc("web", 80, 1))
			tc.modify(&m.Services[0])
			reason := checkMember(&m)
			if (reason == "") != (tc.reason == "") || !strings.Contains(reason, tc.reason) {
				t.Errorf("got reason %q, want %q", reason, tc.reason)
			}
		})
	}
	m := member("web1", 1, instanceOf("a", 80, 0), instanceOf("a", 81, 0))
	if reason := checkMember(&m); !strings.Contains(reason, "instance id a is used twice") {
		t.Errorf("duplicate ids: got reason %q, want one naming the id", reason)
	}
	in := NewData(snapshot("lb1", 1, member("lb1", 1, svc("web", 80, 1)))).Services["web"][0]
	in.Checks = checks([]node.CheckState{{Note: "x;\nserver evil 1.2.3.4:80 #"}}, nil)
	if note := in.Checks[0].Note; note != "x__server_evil_1.2.3.4:80__" {
		t.Errorf("unsafe note: got %q, want every unsafe byte as _", note)
	}
}

// The built-in templates route only to healthy instances, at their own
// address and port, with unique server names when a node runs several
// instances, and the real haproxy and nginx accept the files.
func TestBuiltin_HealthAndInstances(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want []string
	}{
		{"haproxy", map[string]string{}, []string{"-c", "-q", "-f"}, []string{
			"server web1 10.0.0.11:8080 weight 1 check\n",
			"server web1:web-2 10.0.0.11:8081 weight 1 check\n",
			"server web1:web-own 10.9.0.1:9000 weight 1 check\n",
			"server web2 10.0.0.12:8080 weight 1 check\n",
		}},
		{"nginx", map[string]string{"pid": filepath.Join(dir, "nginx.pid")},
			[]string{"-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c"}, []string{
				"server 10.0.0.11:8080 weight=1",
				"server 10.0.0.11:8081 weight=1",
				"server 10.9.0.1:9000 weight=1",
				"server 10.0.0.12:8080 weight=1",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := ParseTemplate(BuiltinPrefix + tc.name)
			if err != nil {
				t.Fatal(err)
			}
			d := NewData(healthCluster())
			d.Vars = tc.vars
			out, n, err := tmpl.Execute(d)
			if err != nil {
				t.Fatal(err)
			}
			if n != 4 {
				t.Errorf("backends: got %d, want the 4 routable web instances", n)
			}
			text := string(out)
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("no %q in\n%s", want, text)
				}
			}
			for _, unwanted := range []string{"10.0.0.13", "10.0.0.14", "10.0.0.15", "api"} {
				if strings.Contains(text, unwanted) {
					t.Errorf("%s (critical, maintenance or on a critical node) is routed:\n%s", unwanted, text)
				}
			}
			path := filepath.Join(dir, tc.name+".conf")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			validate(t, tc.name, append(tc.args, path)...)
		})
	}
}

// healthLost tells the runner to render at once when an instance stops
// being routable, and not when one comes back or nothing changed.
func TestHealthLost(t *testing.T) {
	base := healthCluster()
	with := func(change func(ms []node.Member)) *node.Snapshot {
		ms := slices.Clone(base.Members)
		for i := range ms {
			ms[i].Services = slices.Clone(ms[i].Services)
		}
		change(ms)
		return snapshot("lb1", 2, ms...)
	}
	find := func(ms []node.Member, name string) *node.Member {
		for i := range ms {
			if ms[i].Name == name {
				return &ms[i]
			}
		}
		t.Fatalf("no member %s", name)
		return nil
	}
	for _, tc := range []struct {
		name string
		next *node.Snapshot
		want bool
	}{
		{"nothing changed", with(func([]node.Member) {}), false},
		{"web-2 critical", with(func(ms []node.Member) { find(ms, "web1").Services[1].Health = node.HealthCritical }), true},
		{"warning to maintenance", with(func(ms []node.Member) { find(ms, "web2").Services[0].Health = node.HealthMaintenance }), true},
		{"node check critical", with(func(ms []node.Member) { find(ms, "web2").Health = node.HealthCritical }), true},
		{"passing to warning", with(func(ms []node.Member) { find(ms, "web2").Services[0].Health = node.HealthWarning }), false},
		{"critical comes back", with(func(ms []node.Member) { find(ms, "web3").Services[0].Health = node.HealthPassing }), false},
	} {
		if got := healthLost(base, tc.next); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
