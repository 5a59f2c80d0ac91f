// Package cli implements shoal's verbs: `shoal agent` and the client verbs
// that talk to an agent over its HTTP API.
//
// Who owns what: cli owns flags, config files and signals (signals.go:
// SIGHUP reloads, SIGINT and SIGTERM leave or exit per the config); the
// agent package owns the agent, which cli drives through Run, Reload and
// Leave.
package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a verb runs with; tests and main give real streams.
type env struct {
	stdout, stderr io.Writer
}

type verb struct {
	synopsis string
	run      func(e env, args []string) int
}

var verbs map[string]verb

func init() {
	// A table, not registration side effects: every verb is listed here.
	verbs = map[string]verb{
		"agent":       {"run an agent", runAgent},
		"members":     {"list members", runMembers},
		"join":        {"join the agent to members", runJoin},
		"leave":       {"make the agent leave the cluster and exit", runLeave},
		"force-leave": {"mark a failed member as left", runForceLeave},
		"event":       {"send a user event", runEvent},
		"query":       {"send a query and print acks and responses", runQuery},
		"monitor":     {"stream the agent's logs and events", runMonitor},
		"tags":        {"show or change the agent's tags", runTags},
		"keygen":      {"print a new gossip encryption key", runKeygen},
		"keys":        {"manage the cluster's gossip keyring", runKeys},
		"info":        {"describe the agent", runInfo},
		"render":      {"show template status; -once renders now, -dry shows what would be written", runRender},
		"version":     {"print the version (also shoal -v, shoal --version)", runVersion},
		"validate":    {"check config files and validate their templates with the load balancer, changing nothing", runValidate},

		// Services, checks and maintenance (services.go, maint.go).
		"services": {"list services, or register and deregister this agent's", runServices},
		"check":    {"update a ttl check: pass, warn or fail", runCheck},
		"maint":    {"put the node or a service in maintenance, or take it out", runMaint},

		// Network coordinates and the ping query (coordinates.go).
		"rtt":          {"estimate the round trip time between two nodes from network coordinates", runRTT},
		"reachability": {"ping every member by query and list those that do not answer", runReachability},
	}
}

// Main runs shoal with args (without the program name) and returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	e := env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "-v" || args[0] == "-version" || args[0] == "--version" {
		return runVersion(e, args[1:])
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shoal: unknown command %q; run `shoal help` for the list\n", args[0])
		return exitUsage
	}
	return v.run(e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: shoal COMMAND [options]\n\nCommands:")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, verbs[n].synopsis)
	}
	fmt.Fprintln(w, "\nRun `shoal COMMAND -h` for a command's options.")
}

// fail reports err, one line per problem, and returns exit status 1. An
// error from the agent can quote remote data, so each line is made safe.
func fail(e env, name string, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = withoutVerb(name, line); line != "" {
			fmt.Fprintf(e.stderr, "shoal %s: %s\n", name, safe(line))
		}
	}
	return exitFail
}

// withoutVerb drops the verb's name from the start of msg: the agent and
// the packages under it name the operation in their errors too, and
// "shoal force-leave: force-leave: force-leave "x": ..." says it three
// times.
func withoutVerb(verb, msg string) string {
	for {
		rest, ok := strings.CutPrefix(msg, verb+": ")
		if !ok {
			rest, ok = strings.CutPrefix(msg, verb+" ")
		}
		if !ok {
			return strings.TrimSpace(msg)
		}
		msg = rest
	}
}

// repeated is a repeatable string flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }
