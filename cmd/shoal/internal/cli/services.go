package cli

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/agent"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// runServices lists services, cluster-wide or the agent's own (-local),
// or registers and deregisters the agent's runtime instances.
func runServices(e env, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "register":
			return runRegister(e, args[1:])
		case "deregister":
			return runDeregister(e, args[1:])
		}
	}
	fs := newFlags(e, "services", "[-local] [-format text|json] | register ... | deregister ID")
	c := fs.client()
	local := fs.Bool("local", false, "only this agent's instances, with their checks and the checks' output")
	format := fs.formatFlag("output `format`: text or json")
	fs.strayHint = " (subcommands: register, deregister)"
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *local {
		var out api.AgentServices
		if err := c.call("GET", "/v1/agent/services", nil, &out); err != nil {
			return fail(e, "services", err)
		}
		return printAs(e, *format, out, func() { printLocalServices(e, out) })
	}
	var members []api.Member
	if err := c.call("GET", "/v1/members?"+url.Values{"status": {"alive|suspect"}}.Encode(), nil, &members); err != nil {
		return fail(e, "services", err)
	}
	insts := clusterInstances(members)
	return printAs(e, *format, insts, func() { printInstances(e, insts) })
}

// clusterInstances flattens the members' instances, sorted by service
// name, member and id.
func clusterInstances(members []api.Member) []api.ServiceInstance {
	out := []api.ServiceInstance{}
	for _, m := range members {
		for _, s := range m.Services {
			addr := s.Address
			if addr == "" {
				addr = m.Addr
			}
			out = append(out, api.ServiceInstance{Member: m.Name, MemberStatus: m.Status, ID: s.ID, Name: s.Name,
				Address: addr, Port: s.Port, Tags: s.Tags, Weight: s.Weight, Meta: s.Meta, Health: orPassing(s.Health),
				Checks: append(append([]api.CheckStatus{}, s.Checks...), m.Checks...)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		return a.ID < b.ID
	})
	return out
}

func orPassing(h string) string {
	if h == "" {
		return "passing"
	}
	return h
}

// printInstances writes one line per instance: name, id, member,
// address:port, health, tags.
func printInstances(e env, insts []api.ServiceInstance) {
	rows := [][]string{{"NAME", "ID", "MEMBER", "ADDRESS", "HEALTH", "TAGS"}}
	for _, in := range insts {
		rows = append(rows, []string{safe(in.Name), safe(in.ID), safe(in.Member), safe(hostPort(in.Address, in.Port)),
			safe(in.Health), safe(strings.Join(in.Tags, ","))})
	}
	fmt.Fprint(e.stdout, trimLines(columns(rows)))
}

// trimLines drops the padding left at the end of lines whose last cells
// are empty.
func trimLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l, " \n") + "\n"
		}
	}
	return strings.Join(lines, "")
}

// printLocalServices writes the node's health and checks, then each
// instance with its checks indented under it.
func printLocalServices(e env, a api.AgentServices) {
	fmt.Fprintf(e.stdout, "node %s: %s\n", safe(a.Node), safe(a.Health))
	for _, c := range a.NodeChecks {
		fmt.Fprintln(e.stdout, checkLine(c))
	}
	for _, s := range a.Services {
		addr := s.Address
		if addr == "" {
			addr = "-"
		}
		line := fmt.Sprintf("%s (%s) %s port %d: %s, %s", s.ID, s.Name, addr, s.Port, s.Health, s.Source)
		if len(s.Tags) > 0 {
			line += ", tags " + strings.Join(s.Tags, ",")
		}
		if s.Maintenance {
			line += ", maintenance: " + orDash(s.MaintenanceReason)
		}
		fmt.Fprintln(e.stdout, safe(line))
		for _, c := range s.Checks {
			fmt.Fprintln(e.stdout, checkLine(c))
		}
	}
}

// checkLine is one check, indented: id, status, kind, note and the
// start of its output.
func checkLine(c api.CheckStatus) string {
	line := fmt.Sprintf("  check %s: %s", c.ID, c.Status)
	if c.Kind != "" {
		line += " (" + c.Kind + ")"
	}
	if c.Note != "" {
		line += ", " + c.Note
	}
	if out := strings.TrimSpace(c.Output); out != "" && out != c.Note { // a ttl's note is its output
		line += ": " + clipText(strings.ReplaceAll(strings.TrimSpace(c.Output), "\n", " "), 120)
	}
	return safe(line)
}

// registerFlags are the flags of `shoal services register`; request turns
// them into the API's body, a pure function the tests call.
type registerFlags struct {
	id, name, address   string
	port, weight        int
	tags, meta          repeated
	checkID, checkName  string
	http, tcp, ttl      string
	interval, timeout   string
	initial             string
	successes, failures int
}

func defineRegisterFlags(fs *flag.FlagSet) *registerFlags {
	f := &registerFlags{}
	fs.StringVar(&f.id, "id", "", "instance `ID`, unique on this agent (default: the name)")
	fs.StringVar(&f.name, "name", "", "service `NAME` (required)")
	fs.IntVar(&f.port, "port", 0, "service `PORT` (required)")
	fs.StringVar(&f.address, "address", "", "the instance's own `IP` (default: the member's)")
	fs.IntVar(&f.weight, "weight", 1, "load-balancing `weight`, 0-65535")
	fs.Var(&f.tags, "tag", "service `TAG` (repeatable)")
	fs.Var(&f.meta, "meta", "meta data `KEY=VALUE` (repeatable)")
	fs.StringVar(&f.http, "check-http", "", "check: GET this `URL`; 2xx passing, 429 warning, else critical")
	fs.StringVar(&f.tcp, "check-tcp", "", "check: connect to `HOST:PORT`")
	fs.StringVar(&f.ttl, "check-ttl", "", "check: critical unless `shoal check pass ID` comes within this `duration`")
	fs.StringVar(&f.checkID, "check-id", "", "the check's `ID` (default: ID-check)")
	fs.StringVar(&f.checkName, "check-name", "", "the check's `label`")
	fs.StringVar(&f.interval, "check-interval", "", "how often the check runs (`duration`, default 10s)")
	fs.StringVar(&f.timeout, "check-timeout", "", "bound on one run of the check (`duration`)")
	fs.StringVar(&f.initial, "check-initial", "", "`status` before the first result: passing, warning or critical (default)")
	fs.IntVar(&f.successes, "check-success-before-passing", 0, "`count` of successes before passing")
	fs.IntVar(&f.failures, "check-failures-before-critical", 0, "`count` of failures before critical")
	return f
}

// request builds the registration; script is the argv given after the
// flags (a script check), or nil. The config's rules are checked here too
// (ServiceRegistration.Def), so a mistake is a usage error before the
// agent is asked.
func (f *registerFlags) request(script []string) (api.ServiceRegistration, error) {
	if f.name == "" {
		return api.ServiceRegistration{}, errors.New("-name is required")
	}
	if f.port == 0 {
		return api.ServiceRegistration{}, errors.New("-port is required (1-65535)")
	}
	id := f.id
	if id == "" {
		id = f.name
	}
	weight := f.weight
	r := api.ServiceRegistration{ID: id, Name: f.name, Address: f.address, Port: f.port, Tags: f.tags, Weight: &weight}
	for _, kv := range f.meta {
		k, v, err := config.ParseTag(kv)
		if err != nil {
			return api.ServiceRegistration{}, fmt.Errorf("-meta: %w", err)
		}
		if r.Meta == nil {
			r.Meta = map[string]string{}
		}
		r.Meta[k] = v
	}
	c := api.CheckDefinition{ID: f.checkID, Name: f.checkName, HTTP: f.http, TCP: f.tcp, TTL: f.ttl, Args: script,
		Interval: f.interval, Timeout: f.timeout, InitialStatus: f.initial,
		SuccessBeforePassing: f.successes, FailuresBeforeCritical: f.failures}
	kinds := 0
	for _, set := range []bool{c.HTTP != "", c.TCP != "", c.TTL != "", len(script) > 0} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return api.ServiceRegistration{}, errors.New("give one check: -check-http, -check-tcp, -check-ttl or a program after --")
	case kinds == 1:
		r.Checks = []api.CheckDefinition{c}
	case c.ID != "" || c.Name != "" || c.Interval != "" || c.Timeout != "" || c.InitialStatus != "" || c.SuccessBeforePassing != 0 || c.FailuresBeforeCritical != 0:
		return api.ServiceRegistration{}, errors.New("check options are set but no check: add -check-http, -check-tcp, -check-ttl or a program after --")
	}
	if _, err := agent.ServiceDefFromAPI(r); err != nil {
		return api.ServiceRegistration{}, err
	}
	return r, nil
}

func runRegister(e env, args []string) int {
	fs := newFlags(e, "services", "register -name NAME -port PORT [-id ID] [-address IP] [-tag TAG]... [-meta KEY=VALUE]... "+
		"[-check-http URL | -check-tcp HOST:PORT | -check-ttl DURATION | -- PROGRAM ARG...] [-check-interval D] [-check-timeout D] ...")
	c := fs.client()
	f := defineRegisterFlags(fs.FlagSet)
	if code, ok := fs.parseArgs(args, 0, anyNumber, ""); !ok {
		return code
	}
	req, err := f.request(fs.Args())
	if err != nil {
		return fs.usageErr("register: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	var out api.LocalService
	if err := c.call("PUT", "/v1/agent/services/"+url.PathEscape(req.ID), req, &out); err != nil {
		return fail(e, "services register", err)
	}
	fmt.Fprintf(e.stdout, "Registered %s (%s) on port %d; health %s.\n", safe(out.ID), safe(out.Name), out.Port, safe(out.Health))
	return exitOK
}

func runDeregister(e env, args []string) int {
	fs := newFlags(e, "services", "deregister ID")
	c := fs.client()
	if code, ok := fs.parseArgs(args, 1, 1, "deregister takes one instance ID"); !ok {
		return code
	}
	id := fs.Arg(0)
	if err := c.call("DELETE", "/v1/agent/services/"+url.PathEscape(id), nil, nil); err != nil {
		return fail(e, "services deregister", err)
	}
	fmt.Fprintf(e.stdout, "Deregistered %s.\n", safe(id))
	return exitOK
}
