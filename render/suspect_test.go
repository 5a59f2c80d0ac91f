package render

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// withStatus returns snap's members with the named ones set to status.
func withStatus(snap *node.Snapshot, version uint64, status node.Status, names ...string) *node.Snapshot {
	ms := slices.Clone(snap.Members)
	for i := range ms {
		if slices.Contains(names, ms[i].Name) {
			ms[i].Status = status
		}
	}
	return snapshot(snap.Self, version, ms...)
}

func TestData_SuspectInstancesDrained(t *testing.T) {
	snap := withStatus(webCluster(), 2, node.StatusSuspect, "web2")
	d := NewData(snap)
	var web []string
	for _, in := range d.Services["web"] {
		web = append(web, in.Node+":"+in.NodeStatus+":"+map[bool]string{true: "drain", false: "serve"}[in.Drain])
	}
	if got, want := strings.Join(web, " "), "web1:alive:serve web2:suspect:drain"; got != want {
		t.Errorf("web: got %q, want %q", got, want)
	}
	// web2 is api's only instance: draining it would leave none.
	if api := d.Services["api"]; len(api) != 1 || api[0].NodeStatus != "suspect" || api[0].Drain {
		t.Errorf("api: got %+v, want web2, suspect, not drained", api)
	}
	for _, in := range newData(snap, false).Services["web"] {
		if in.Drain {
			t.Errorf("drain_on_suspect = false: %s drained", in.Node)
		}
	}
	out, _, err := execText(t, `{{ range members "suspect" }}{{ .Name }} {{ end }}`, snap)
	if err != nil || out != "web2 " {
		t.Errorf(`members "suspect": got %q (%v), want "web2 "`, out, err)
	}
}

// The built-in HAProxy template gives a drained server weight 0.
func TestBuiltin_HAProxySuspectWeightZero(t *testing.T) {
	tmpl, err := ParseTemplate("builtin:haproxy")
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(withStatus(webCluster(), 2, node.StatusSuspect, "web2"))
	d.Vars = map[string]string{}
	out, _, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server web1 10.0.0.11:8080 weight 5 check",
		"server web2 10.0.0.12:8080 weight 0 check",   // web: drained
		"server web2 10.0.0.12:9090 weight 1 check\n", // api: its only instance
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

const drainTmpl = `{{ range service "web" }}{{ .Node }} {{ .NodeStatus }} {{ if .Drain }}drain{{ else }}{{ .Weight }}{{ end }}
{{ end }}`

// Suspicion and its refutation render at once, not after wait.min: a
// suspicion lasts seconds.
func TestRunner_SuspicionIsUrgent(t *testing.T) {
	for _, serve := range []bool{false, true} {
		f := newFixture(t, webCluster(), func(c *Config) {
			src := filepath.Join(t.TempDir(), "drain.tmpl")
			writeFile(t, src, drainTmpl)
			c.Templates[0].Source = src
			c.Templates[0].Wait = Wait{Min: 10 * time.Second, Max: time.Minute}
			c.Templates[0].ServeSuspects = serve
		})
		startRunner(t, f.r)
		suspectWant := "web1 alive 5\nweb2 suspect drain\n"
		if serve {
			suspectWant = "web1 alive 5\nweb2 suspect 10\n"
		}
		for _, step := range []struct {
			snap *node.Snapshot
			want string
		}{
			{withStatus(webCluster(), 2, node.StatusSuspect, "web2"), suspectWant},
			{withStatus(webCluster(), 3, node.StatusAlive, "web2"), "web1 alive 5\nweb2 alive 10\n"},
		} {
			f.change(step.snap)
			f.r.waitIdle() // no clock advance
			if got := readFile(t, f.dest); got != step.want {
				t.Errorf("serve suspects %t, snapshot %d: got %q, want %q", serve, step.snap.Version, got, step.want)
			}
		}
	}
}

func TestUrgentChange(t *testing.T) {
	base := webCluster()
	for _, tc := range []struct {
		name string
		next *node.Snapshot
		want bool
	}{
		{"nothing", webCluster(), false},
		{"a join", snapshot("lb1", 2, append(slices.Clone(base.Members), member("web4", 14, svc("web", 8080, 1)))...), false},
		{"suspected", withStatus(base, 2, node.StatusSuspect, "web1"), true},
		{"a member without services suspected", withStatus(base, 2, node.StatusSuspect, "lb1"), false},
		{"failed", withStatus(base, 2, node.StatusFailed, "web1"), true},
	} {
		if got := urgentChange(base, tc.next); got != tc.want {
			t.Errorf("%s: got %t, want %t", tc.name, got, tc.want)
		}
	}
	suspect := withStatus(base, 2, node.StatusSuspect, "web1")
	for _, tc := range []struct {
		name string
		next node.Status
	}{{"refuted", node.StatusAlive}, {"suspect then failed", node.StatusFailed}, {"suspect then leaving", node.StatusLeaving}} {
		if !urgentChange(suspect, withStatus(suspect, 3, tc.next, "web1")) {
			t.Errorf("%s: not urgent", tc.name)
		}
	}
}

// The backend learns which instances are gone because their member
// failed: web3 (failed all along) and web2 once it fails.
func TestRunner_ApplyHintsNameFailedInstances(t *testing.T) {
	f, ra := newApplierFixture(t)
	f.change(withStatus(webCluster(), 2, node.StatusFailed, "web2"))
	ra.amu.Lock()
	hints := slices.Clone(ra.hints)
	ra.amu.Unlock()
	if len(hints) != 1 {
		t.Fatalf("%d applies, want 1", len(hints))
	}
	var got []string
	for _, a := range hints[0].Failed {
		got = append(got, a.String())
	}
	slices.Sort(got)
	want := []string{"10.0.0.12:8080", "10.0.0.12:9090", "10.0.0.13:8080"}
	if !slices.Equal(got, want) {
		t.Errorf("failed instances: got %q, want %q", got, want)
	}
	for _, a := range hints[0].Failed {
		if !a.Addr().Is4() {
			t.Errorf("%s: want a plain IPv4 address, as HAProxy's file has it", a)
		}
	}
}
