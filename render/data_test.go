package render

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

// textCase is a template text, what it must render and how many backends
// it declares.
type textCase struct {
	name, text, want string
	backends         int
}

// runTextCases renders each case in a subtest, against a fresh snapshot
// from snap.
func runTextCases(t *testing.T, snap func() *node.Snapshot, cases []textCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := execText(t, tc.text, snap())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if n != tc.backends {
				t.Errorf("backends: got %d, want %d", n, tc.backends)
			}
		})
	}
}

func execText(t *testing.T, text string, snap *node.Snapshot) (string, int, error) {
	t.Helper()
	dir := t.TempDir()
	path := dir + "/t.tmpl"
	writeFile(t, path, text)
	tmpl, err := ParseTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(snap)
	d.Vars = map[string]string{"listen_base": "1000"}
	out, n, err := tmpl.Execute(d)
	return string(out), n, err
}

func TestData_SortedAndAliveOnly(t *testing.T) {
	d := NewData(webCluster())
	var names []string
	for _, m := range d.Members {
		names = append(names, m.Name+":"+m.Status)
	}
	if got, want := strings.Join(names, " "), "lb1:alive web1:alive web2:alive web3:failed"; got != want {
		t.Errorf("members: got %q, want %q", got, want)
	}
	var web []string
	for _, in := range d.Services["web"] {
		web = append(web, in.Node+"="+in.HostPort)
	}
	if got, want := strings.Join(web, " "), "web1=10.0.0.11:8080 web2=10.0.0.12:8080"; got != want {
		t.Errorf("web instances: got %q, want %q", got, want)
	}
	if d.Self.Name != "lb1" || d.Self.Tags["zone"] != "a" {
		t.Errorf("self: got %+v, want lb1 in zone a", d.Self)
	}
	if w := d.Services["api"][0].Weight; w != 1 {
		t.Errorf("unset weight: got %d, want 1", w)
	}
}

func TestData_SameClusterSameBytes(t *testing.T) {
	const text = `{{ range services }}{{ .Name }}:{{ range .Instances }} {{ .Node }}{{ end }}
{{ end }}{{ range .Members }}{{ .Name }} {{ range $k, $v := .Tags }}{{ $k }}={{ $v }},{{ end }}
{{ end }}`
	first, _, err := execText(t, text, webCluster())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		got, _, _ := execText(t, text, webCluster())
		if got != first {
			t.Fatalf("render %d differs:\n%s\nfirst:\n%s", i, got, first)
		}
	}
}

// A member tagged with a newline and a config line of its own must not reach
// the output, and must be reported.
func TestData_InjectionExcludesMember(t *testing.T) {
	evil := member("evil", 66, svc("web", 8080, 1))
	evil.Tags = map[string]string{"zone": "a\n    server evil 1.2.3.4:80"}
	snap := snapshot("lb1", 1, append(webCluster().Members, evil)...)

	d := NewData(snap)
	ex := d.Excluded()
	if len(ex) != 1 || !strings.Contains(ex[0].Member, "evil") || !strings.Contains(ex[0].Reason, `\n`) {
		t.Fatalf("excluded: got %+v, want evil excluded with the escaped value in the reason", ex)
	}
	for _, in := range d.Services["web"] {
		if in.Node == "evil" {
			t.Fatalf("evil is still a web instance")
		}
	}
	out, _, err := execText(t, `{{ range service "web" }}server {{ .Node }} {{ .HostPort }}
{{ end }}{{ range members }}{{ .Name }} zone={{ tag "zone" . }}
{{ end }}`, snap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "evil") || strings.Contains(out, "1.2.3.4") {
		t.Errorf("output contains the injected member:\n%s", out)
	}
}

func TestCheckMember(t *testing.T) {
	ok := member("web-1.dc1", 1, svc("web_api", 80, 1, "v2", "path=/api"))
	ok.Tags = map[string]string{"role": "lb", "version": "1.2.3+b4", "empty": ""}
	if reason := checkMember(&ok); reason != "" {
		t.Errorf("safe member refused: %s", reason)
	}
	for _, tc := range []struct {
		name   string
		modify func(m *node.Member)
	}{
		{"space in node name", func(m *node.Member) { m.Name = "web 1" }},
		{"semicolon in tag value", func(m *node.Member) { m.Tags["x"] = "a;b" }},
		{"brace in tag value", func(m *node.Member) { m.Tags["x"] = "}" }},
		{"hash in tag value", func(m *node.Member) { m.Tags["x"] = "a#b" }},
		{"quote in tag key", func(m *node.Member) { m.Tags[`x"`] = "a" }},
		{"dot in service name", func(m *node.Member) { m.Services[0].Name = "v2.web" }},
		{"newline in service tag", func(m *node.Member) { m.Services[0].Tags = []string{"v2\nx"} }},
		{"port 0", func(m *node.Member) { m.Services[0].Port = 0 }},
		{"no address", func(m *node.Member) { m.Addr = nil }},
		{"long value", func(m *node.Member) { m.Tags["x"] = strings.Repeat("a", 256) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := member("web1", 1, svc("web", 80, 1))
			tc.modify(&m)
			if reason := checkMember(&m); reason == "" {
				t.Errorf("got accepted, want refused")
			}
		})
	}
}
