package handlers

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/node"
)

// This file holds what a script sees, byte for byte as Serf's agent gives
// it (cmd/serf/command/agent/invoke.go), so Serf handlers run unchanged.

// Self is what a script learns about the local node.
type Self struct {
	Name string
	Tags map[string]string
}

// envUnsafe is what Serf replaces with "_" in a tag key, after upper-casing
// it, to make SERF_TAG_<KEY>: everything outside [A-Z0-9_], rune by rune.
var envUnsafe = regexp.MustCompile(`[^A-Z0-9_]`)

// Env returns the variables Serf sets for e, each also under a SHOAL_ name.
// Tags are in key order, so when two keys sanitise to the same name (dc-a,
// dc.a) the later key's value wins, every time; Serf's map order picks one
// at random.
func Env(self Self, e node.Event) []string {
	vars := [][2]string{
		{"EVENT", e.EventType().String()},
		{"SELF_NAME", self.Name},
		{"SELF_ROLE", self.Tags["role"]},
	}
	for _, k := range sortedKeys(self.Tags) {
		vars = append(vars, [2]string{"TAG_" + envUnsafe.ReplaceAllString(strings.ToUpper(k), "_"), self.Tags[k]})
	}
	switch e := e.(type) {
	case *node.UserEvent:
		vars = append(vars, [2]string{"USER_EVENT", e.Name}, [2]string{"USER_LTIME", fmt.Sprint(e.LTime)})
	case *node.Query:
		vars = append(vars, [2]string{"QUERY_NAME", e.Name}, [2]string{"QUERY_LTIME", fmt.Sprint(e.LTime)})
	}
	out := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		out = append(out, "SERF_"+v[0]+"="+v[1], "SHOAL_"+v[0]+"="+v[1])
	}
	return out
}

// Stdin returns what a script reads.
//
// Member events: one line per member, "NAME\tADDR\tROLE\tTAGS\n", TAGS as
// k=v joined by ",", with tabs and newlines in the name, the role and the
// joined tags written as the two characters \t and \n. Serf writes the
// tags in map order (random); shoal sorts them, one of Serf's orders and
// the same bytes every time. Nothing else is escaped, as in Serf: a "," or
// "=" inside a tag value reads ambiguously there too.
//
// Health events (shoal's own): see health.go.
//
// User events and queries: the payload, with a newline added when it is
// not empty and does not already end with one, so that the shell's read
// gets the last line. An empty payload is an empty stdin.
func Stdin(e node.Event) []byte {
	switch e := e.(type) {
	case *node.MemberEvent:
		var b bytes.Buffer
		for _, m := range e.Members {
			keys := sortedKeys(m.Tags)
			pairs := make([]string, len(keys))
			for i, k := range keys {
				pairs[i] = k + "=" + m.Tags[k]
			}
			// net.IP's String, as Serf: "<nil>" for a missing address.
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", clean(m.Name), m.Addr.String(), clean(m.Tags["role"]), clean(strings.Join(pairs, ",")))
		}
		return b.Bytes()
	case *node.UserEvent:
		return withNewline(e.Payload)
	case *node.Query:
		return withNewline(e.Payload)
	case *HealthBatch:
		return healthStdin(e.Events)
	case *node.HealthEvent:
		return healthStdin([]*node.HealthEvent{e})
	}
	return nil
}

func withNewline(p []byte) []byte {
	if len(p) == 0 || p[len(p)-1] == '\n' {
		return p
	}
	return append(p[:len(p):len(p)], '\n') // never write into the event's array
}

func clean(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
