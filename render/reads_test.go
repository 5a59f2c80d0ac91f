package render

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/shoal-dev/shoal/node"
)

func TestTagReadsOf(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		read       []string // keys the template reads
		unread     []string // keys it does not
	}{
		{"no tags", `{{ range service "web" }}{{ .Node }} {{ .HostPort }}{{ end }}`, nil, []string{"owner", "zone"}},
		{"field", `{{ .Self.Tags.zone }}`, []string{"zone"}, []string{"owner"}},
		{"instance node tags", `{{ range service "web" }}{{ .NodeTags.rack }}{{ end }}`, []string{"rack"}, []string{"owner"}},
		{"variable", `{{ range $m := .Members }}{{ $m.Tags.owner }}{{ end }}`, []string{"owner"}, []string{"zone"}},
		{"chain", `{{ (index .Members 0).Tags.zone }}`, []string{"zone"}, []string{"owner"}},
		{"index", `{{ index .Self.Tags "listen.web" }}`, []string{"listen.web"}, []string{"owner"}},
		{"index computed key", `{{ $k := "owner" }}{{ index .Self.Tags $k }}`, []string{"owner", "anything"}, nil},
		{"tag func", `{{ .Self | tag "zone" }}`, []string{"zone"}, []string{"owner"}},
		{"tag func computed key", `{{ range $k, $v := .Vars }}{{ tag $k $.Self }}{{ end }}`, []string{"owner"}, nil},
		{"members filters", `{{ range members "alive" "role=lb" "!drain" "dc" }}{{ .Name }}{{ end }}`, []string{"role", "drain", "dc"}, []string{"owner"}},
		{"listenPort", `{{ listenPort "web" }}`, []string{"listen.web", "listen.x"}, []string{"owner"}},
		{"range over tags", `{{ range $k, $v := .Self.Tags }}{{ $k }}={{ $v }}{{ end }}`, []string{"owner", "zone"}, nil},
		{"tags to a function", `{{ toJson .Self.Tags }}`, []string{"owner"}, nil},
		{"in a branch", `{{ with .Self }}{{ if .Tags.zone }}{{ else }}{{ .Tags.rack }}{{ end }}{{ end }}`, []string{"zone", "rack"}, []string{"owner"}},
		{"defined template", `{{ define "x" }}{{ .Tags.owner }}{{ end }}{{ template "x" .Self }}`, []string{"owner"}, []string{"zone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.New("t").Funcs(funcMap(new(*execState))).Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			r := tagReadsOf(tmpl)
			for _, k := range tc.read {
				if !r.reads(k) {
					t.Errorf("reads(%q) = false, want true (set %s)", k, r)
				}
			}
			for _, k := range tc.unread {
				if r.reads(k) {
					t.Errorf("reads(%q) = true, want false (set %s)", k, r)
				}
			}
		})
	}
}

// The built-in templates read no tag but the local node's listen.* ones.
func TestTagReads_Builtins(t *testing.T) {
	for _, src := range []string{"builtin:haproxy", "builtin:nginx"} {
		tm, err := ParseTemplate(src)
		if err != nil {
			t.Fatal(err)
		}
		if r := tm.tagReads(); r.reads("owner") || !r.reads("listen.web") {
			t.Errorf("%s: reads %s, want listen.* only", src, r)
		}
	}
}

// owner="team a" is unsafe in a config file. A template that never reads
// owner keeps the member (and never sees the value); one that reads it
// leaves the member out, with the log line that says why.
func TestRunner_UnreadUnsafeTagKeepsMember(t *testing.T) {
	snap := func() *node.Snapshot {
		s := webCluster()
		for i := range s.Members {
			if s.Members[i].Name == "web1" {
				s.Members[i].Tags = map[string]string{"role": "web", "owner": "team a"}
			}
		}
		return s
	}
	var logs bytes.Buffer
	f := newFixture(t, snap(), func(c *Config) {
		reads := filepath.Join(filepath.Dir(c.Templates[0].Source), "owner.tmpl")
		writeFile(t, reads, `{{ range service "web" }}server {{ .Node }} # {{ index .NodeTags "owner" }}
{{ end }}`)
		dumps := filepath.Join(filepath.Dir(c.Templates[0].Source), "dump.tmpl")
		writeFile(t, dumps, `{{ toJson .Members }}`)
		dir := filepath.Dir(c.Templates[0].Destination)
		c.Templates = append(c.Templates,
			TemplateConfig{Name: "owner", Source: reads, Destination: filepath.Join(dir, "owner.cfg")},
			TemplateConfig{Name: "dump", Source: dumps, Destination: filepath.Join(dir, "dump.cfg")})
	})
	f.r.log = slog.New(slog.NewTextHandler(&logs, nil))
	res, err := f.r.Once(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Name, r.Err)
		}
		out[r.Name] = string(r.Content)
	}

	if want := "server web1 10.0.0.11:8080 weight 5\nserver web2 10.0.0.12:8080 weight 10\n"; out["web"] != want {
		t.Errorf("template that does not read owner: got %q, want web1 kept: %q", out["web"], want)
	}
	if st := statusOf(t, f.r, "web"); len(st.Excluded) != 0 {
		t.Errorf("template that does not read owner: excluded %+v, want none", st.Excluded)
	}
	if strings.Contains(out["owner"], "web1") || !strings.Contains(out["owner"], "server web2") {
		t.Errorf("template that reads owner: got %q, want web1 left out and web2 kept", out["owner"])
	}
	if st := statusOf(t, f.r, "owner"); len(st.Excluded) != 1 || st.Excluded[0].Member != `"web1"` || !strings.Contains(st.Excluded[0].Reason, "owner") {
		t.Errorf("template that reads owner: excluded %+v, want web1 for its owner tag", st.Excluded)
	}
	if !strings.Contains(logs.String(), "member left out of rendering: unsafe value") || !strings.Contains(logs.String(), "template=owner") {
		t.Errorf("log does not name the exclusion:\n%s", logs.String())
	}
	// A whole-member dump keeps web1 but never carries the unread value.
	if !strings.Contains(out["dump"], `"web1"`) || strings.Contains(out["dump"], "team a") {
		t.Errorf("dump of the members: got %s, want web1 without its unsafe owner tag", out["dump"])
	}
}
