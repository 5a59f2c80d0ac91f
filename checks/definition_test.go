package checks

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/node"
)

func TestDefinition_Validate(t *testing.T) {
	ok := Definition{ID: "web", HTTP: "http://127.0.0.1:8080/health", Interval: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Definition)
		want string // "" = valid
	}{
		{"http", func(*Definition) {}, ""},
		{"tcp", func(d *Definition) { d.HTTP, d.TCP = "", "127.0.0.1:80" }, ""},
		{"script", func(d *Definition) { d.HTTP, d.Args = "", []string{"/bin/true"} }, ""},
		{"ttl needs no interval", func(d *Definition) { d.HTTP, d.TTL, d.Interval = "", time.Second, 0 }, ""},
		{"no id", func(d *Definition) { d.ID, d.Name = "", "Web" }, `check "Web": id: is empty`},
		{"no kind", func(d *Definition) { d.HTTP = "" }, `check "web": kind: set exactly one of http, tcp, args or ttl`},
		{"two kinds", func(d *Definition) { d.TCP = "127.0.0.1:80" }, `check "web": kind: set exactly one`},
		{"ftp url", func(d *Definition) { d.HTTP = "ftp://127.0.0.1/" }, `check "web": http: "ftp://127.0.0.1/" is not an http or https URL`},
		{"bad url", func(d *Definition) { d.HTTP = "http://[::1" }, `check "web": http: parse`},
		{"no host", func(d *Definition) { d.HTTP = "http:///x" }, `check "web": http: "http:///x" has no host`},
		{"tcp without port", func(d *Definition) { d.HTTP, d.TCP = "", "127.0.0.1" }, `check "web": tcp: "127.0.0.1" is not host:port`},
		{"empty command", func(d *Definition) { d.HTTP, d.Args = "", []string{""} }, `check "web": args: the command (args[0]) is empty`},
		{"fast interval", func(d *Definition) { d.Interval = 10 * time.Millisecond }, `check "web": interval: 10ms is below the minimum 100ms`},
		{"negative timeout", func(d *Definition) { d.Timeout = -time.Second }, `check "web": timeout: -1s must be positive`},
		{"negative ttl", func(d *Definition) { d.HTTP, d.TTL = "", -time.Second }, `check "web": ttl: -1s must be positive`},
		{"negative threshold", func(d *Definition) { d.FailuresBeforeCritical = -1 }, `check "web": failures_before_critical: -1 is negative`},
		{"maintenance initial", func(d *Definition) { d.Initial, d.InitialSet = node.HealthMaintenance, true }, `check "web": initial: maintenance`},
		{"method without http", func(d *Definition) { d.HTTP, d.TCP, d.Method = "", "127.0.0.1:1", "POST" }, `check "web": method: is set without http`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.edit(&d)
			err := d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefinition_Defaults(t *testing.T) {
	d := Definition{Interval: time.Second}
	if got := d.EffectiveTimeout(); got != time.Second {
		t.Errorf("timeout of a 1s check: got %s, want 1s (the interval)", got)
	}
	d.Interval = time.Minute
	if got := d.EffectiveTimeout(); got != MaxTimeout {
		t.Errorf("timeout of a 1m check: got %s, want %s", got, MaxTimeout)
	}
	if got := d.InitialStatus(); got != node.HealthCritical {
		t.Errorf("initial status: got %s, want critical", got)
	}
	d.InitialSet = true
	if got := d.InitialStatus(); got != node.HealthPassing {
		t.Errorf("initial status when set to passing: got %s, want passing", got)
	}
}

func TestCleanNote(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, tc := range []struct{ in, want string }{
		{"  HTTP 200 OK\r\n", "HTTP 200 OK"},
		{"line one\nline two\ttab\x00nul\x1b[31m", "line one line two tab nul [31m"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{long, strings.Repeat("é", 128)},
	} {
		got := cleanNote(tc.in)
		if got != tc.want {
			t.Errorf("cleanNote(%q): got %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > MaxNote {
			t.Errorf("cleanNote(%q): %d bytes, want <= %d", tc.in, len(got), MaxNote)
		}
	}
}

func TestThreshold(t *testing.T) {
	P, W, C := node.HealthPassing, node.HealthWarning, node.HealthCritical
	for _, tc := range []struct {
		name       string
		succ, fail int
		in         []node.Health
		want       []bool
	}{
		{"defaults act at once", 0, 0, []node.Health{P, C, W, P}, []bool{true, true, true, true}},
		{"two to pass", 2, 0, []node.Health{P, C, P, P, P}, []bool{false, true, false, true, true}},
		{"three to fail", 0, 3, []node.Health{C, C, P, C, C, C, C}, []bool{false, false, true, false, false, true, true}},
		{"warning counts as a failure and resets successes", 2, 2, []node.Health{P, W, P, W, W}, []bool{false, false, false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := threshold{successBeforePassing: tc.succ, failuresBeforeCritical: tc.fail}
			for i, h := range tc.in {
				if got := th.apply(h); got != tc.want[i] {
					t.Fatalf("result %d (%s): got apply=%v, want %v", i, h, got, tc.want[i])
				}
			}
		})
	}
}
