package cli_test

import (
	"strings"
	"testing"
)

// clientVerbs are a valid call of each verb that talks to an agent,
// without -http-addr.
var clientVerbs = [][]string{
	{"members"}, {"join", "127.0.0.1:7946"}, {"leave"}, {"force-leave", "x"}, {"event", "e"},
	{"query", "q"}, {"query", "-format", "json", "q"}, {"query", "config-hash"}, {"monitor"}, {"tags"}, {"tags", "-set", "k=v"}, {"keys", "-list"},
	{"info"}, {"render"}, {"render", "-dry"}, {"render", "-once"}, {"services"}, {"services", "-local"},
	{"services", "register", "-name", "web", "-port", "80"}, {"services", "deregister", "web"},
	{"check", "pass", "web"}, {"maint"}, {"maint", "-enable"}, {"rtt", "a"}, {"reachability"},
}

// withAddr puts -http-addr addr after the verb (and its subcommand).
func withAddr(args []string, addr string) []string {
	n := 1
	if args[0] == "services" && len(args) > 1 && !strings.HasPrefix(args[1], "-") || args[0] == "check" {
		n = 2
	}
	out := append(append([]string{}, args[:n]...), "-http-addr", addr)
	return append(out, args[n:]...)
}

// TestVerbs_NoAgent: with no agent at -http-addr, every client verb says
// so in one line that tells how to fix it, and exits 1.
func TestVerbs_NoAgent(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range clientVerbs {
		oneErrorLine(t, withAddr(args, addr), 1, "no agent answers at "+addr, "shoal agent", "-http-addr")
	}
	oneErrorLine(t, []string{"info", "-http-addr", "127.0.0.1:1 2"}, 1, `bad -http-addr "127.0.0.1:1 2"`)
}

// TestVerbs_UsageErrors: a bad flag or argument is exit 2 with a message
// on stderr and nothing on stdout, found before the agent is asked (the
// address has no agent: asking it would exit 1).
func TestVerbs_UsageErrors(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{
		{"members", "x"}, {"members", "-format", "xml"}, {"members", "-name", "("}, {"members", "-tag", "nokey"}, {"members", "-nope"},
		{"join"}, {"leave", "x"}, {"force-leave"}, {"force-leave", "a", "b"}, {"event"}, {"event", "a", "b", "c"},
		{"query"}, {"query", "-format", "xml", "q"}, {"query", "-relay-factor", "256", "q"}, {"query", "-timeout", "-1s", "q"},
		{"query", "-tag", "nokey", "q"}, {"monitor", "-log-level", "loud"}, {"tags", "x"}, {"tags", "-set", "nokey"},
		{"keygen", "x"}, {"keys"}, {"keys", "-list", "-remove", "k"}, {"keys", "-install", "not-a-key"},
		{"info", "x"}, {"info", "-format", "xml"}, {"render", "x"}, {"render", "-format", "xml"}, {"render", "-template", "t"},
		{"services", "x"}, {"services", "-format", "xml"}, {"services", "register", "-port", "80"},
		{"services", "register", "-name", "web", "-port", "80", "-check-ttl", "1s", "-check-tcp", "127.0.0.1:80"},
		{"services", "deregister"}, {"check", "pass"}, {"check", "ok", "web"}, {"maint", "-enable", "-disable"},
		{"maint", "-reason", "r"}, {"maint", "x"}, {"rtt"}, {"rtt", "a", "b", "c"}, {"rtt", "-format", "xml", "a"},
		{"reachability", "x"}, {"reachability", "-format", "xml"}, {"reachability", "-timeout", "-1s"},
	} {
		if args[0] != "keygen" {
			args = withAddr(args, addr)
		}
		code, out, errOut := shoal(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "shoal "+args[0]) {
			t.Errorf("shoal %q: exit %d, stdout %q, stderr %q; want 2, no stdout, a message naming the verb", args, code, out, errOut)
		}
	}
}

// TestVerbs_Help: -h on every verb prints its usage and succeeds; no
// command is a usage error, help is not, and an unknown one names itself.
func TestVerbs_Help(t *testing.T) {
	for _, args := range append(clientVerbs, []string{"keygen"}) {
		verb := args[0]
		code, out, errOut := shoal(verb, "-h")
		if code != 0 || out != "" || !strings.HasPrefix(errOut, "Usage: shoal "+verb) {
			t.Errorf("shoal %s -h: exit %d, stdout %q, stderr %q; want 0 and the usage", verb, code, out, errOut)
		}
	}
	code, _, errOut := shoal()
	if code != 2 || !strings.HasPrefix(errOut, "Usage: shoal COMMAND") || !strings.Contains(errOut, "\n  reachability ") {
		t.Errorf("shoal: exit %d, stderr %q; want 2 and the list of commands", code, errOut)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		if code, _, errOut := shoal(h); code != 0 || !strings.Contains(errOut, "\n  members ") {
			t.Errorf("shoal %s: exit %d, stderr %q; want 0 and the list of commands", h, code, errOut)
		}
	}
	code, out, errOut := shoal("nope")
	if code != 2 || out != "" || errOut != "shoal: unknown command \"nope\"; run `shoal help` for the list\n" {
		t.Errorf("shoal nope: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
