package cli

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
)

// run calls Main in-process and returns its exit status and output.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMain_VersionSpellings(t *testing.T) {
	want := buildinfo.String() + "\n"
	for _, arg := range []string{"version", "-v", "-version", "--version"} {
		code, out, errOut := run(arg)
		if code != exitOK || out != want || errOut != "" {
			t.Errorf("shoal %s: got exit %d, stdout %q, stderr %q; want 0, %q, nothing", arg, code, out, errOut, want)
		}
	}
}

// TestAgent_StrayArgumentIsOneLine: `shoal agent foo` used to exit 2 and
// print nothing.
func TestAgent_StrayArgumentIsOneLine(t *testing.T) {
	code, out, errOut := run("agent", "foo")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != exitUsage || out != "" || len(lines) != 1 || !strings.Contains(lines[0], `"foo"`) || !strings.Contains(lines[0], "-h") {
		t.Fatalf("shoal agent foo: got exit %d, stdout %q, stderr %q; want 2 and one line naming \"foo\" and -h", code, out, errOut)
	}
}

// TestAgent_BadFlagIsShort: a bad agent flag used to print 50 lines of
// usage around the one that mattered.
func TestAgent_BadFlagIsShort(t *testing.T) {
	for _, args := range [][]string{{"agent", "-nope"}, {"agent", "-bind", "a:b:c"}, {"agent", "-profile", "fast"}} {
		code, _, errOut := run(args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "shoal agent: ") || !strings.Contains(lines[0], "shoal agent -h") {
			t.Errorf("shoal %q: got exit %d, stderr %q; want 2 and one line with a hint to shoal agent -h", args, code, errOut)
		}
		if !strings.Contains(lines[0], args[1]) {
			t.Errorf("shoal %q: stderr %q does not name the flag %s", args, errOut, args[1])
		}
	}
	// -h still prints the whole usage, and succeeds.
	code, _, errOut := run("agent", "-h")
	if code != exitOK || !strings.Contains(errOut, "Usage: shoal agent") || !strings.Contains(errOut, "-retry-join") {
		t.Errorf("shoal agent -h: got exit %d, stderr %q; want 0 and the usage", code, errOut)
	}
}

func TestFail_NamesTheVerbOnce(t *testing.T) {
	for _, c := range []struct{ verb, msg, want string }{
		{"force-leave", `force-leave: force-leave "x": no such member`, `shoal force-leave: "x": no such member` + "\n"},
		{"join", "join: refused\n\n", "shoal join: refused\n"},
		{"keys", "1 of 2 nodes failed:\nn1: nope", "shoal keys: 1 of 2 nodes failed:\nshoal keys: n1: nope\n"},
		{"event", "eventual: x", "shoal event: eventual: x\n"},
	} {
		var errb strings.Builder
		if code := fail(env{stderr: &errb}, c.verb, errorString(c.msg)); code != exitFail || errb.String() != c.want {
			t.Errorf("fail(%q, %q): got %d, %q; want 1, %q", c.verb, c.msg, code, errb.String(), c.want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestValidate_UsageErrors(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"validate", "x.hcl"}, {"validate", "-nope"}} {
		if code, _, errOut := run(args...); code != exitUsage || errOut == "" {
			t.Errorf("shoal %q: got exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

// TestVerbs_UsageErrors: the checks verbFlags makes for every verb, each a
// one-line usage error with exit status 2, before any agent is called.
func TestVerbs_UsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"info", "-format", "xml"}, `shoal info: -format "xml" is not text or json (run ` + "`shoal info -h`" + ` for help)`},
		{[]string{"members", "x"}, `shoal members: unexpected argument "x"`},
		{[]string{"monitor", "x"}, `shoal monitor: unexpected argument "x"`},
		{[]string{"keys", "-list", "x"}, `shoal keys: unexpected argument "x"`},
		{[]string{"services", "x"}, `shoal services: unexpected argument "x" (subcommands: register, deregister)`},
		{[]string{"validate", "x.hcl"}, `shoal validate: unexpected argument "x.hcl": name files with -config-file`},
		{[]string{"join"}, `shoal join: name at least one ADDR:PORT to join`},
		{[]string{"rtt", "a", "b", "c"}, `shoal rtt: name one or two nodes`},
		{[]string{"rtt", "-format", "xml", "a"}, `shoal rtt: -format "xml" is not text or json`},
		{[]string{"reachability", "-timeout", "-1s"}, `shoal reachability: -timeout -1s is negative`},
		{[]string{"query", "-timeout", "-1s", "q"}, `shoal query: -timeout -1s is negative`},
		{[]string{"services", "deregister"}, `shoal services: deregister takes one instance ID`},
	} {
		code, out, errOut := run(c.args...)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("shoal %q: got exit %d, stdout %q, stderr %q; want 2 and one line starting %q", c.args, code, out, errOut, c.want)
		}
	}
}
