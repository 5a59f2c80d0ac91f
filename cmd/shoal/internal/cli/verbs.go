package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

func hostPort(addr string, port uint16) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

func tagString(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

func serviceString(svcs []api.Service) string {
	parts := make([]string, len(svcs))
	for i, s := range svcs {
		parts[i] = fmt.Sprintf("%s:%d", s.Name, s.Port)
		if len(s.Tags) > 0 {
			parts[i] += ":" + strings.Join(s.Tags, ",")
		}
		if s.ID != "" && s.ID != s.Name {
			parts[i] += "[" + s.ID + "]"
		}
		if h := orPassing(s.Health); h != "passing" {
			parts[i] += "(" + h + ")"
		}
	}
	return strings.Join(parts, " ")
}

func printJSON(e env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(e, "output", err)
	}
	return exitOK
}

// printAs prints v as JSON for -format json, else with text.
func printAs(e env, format string, v any, text func()) int {
	if format == "json" {
		return printJSON(e, v)
	}
	text()
	return exitOK
}

func runJoin(e env, args []string) int {
	fs := newFlags(e, "join", "ADDR:PORT...")
	c := fs.client()
	replay := fs.Bool("replay", false, "replay past user events to the joining agent")
	if code, ok := fs.parseArgs(args, 1, anyNumber, "name at least one ADDR:PORT to join"); !ok {
		return code
	}
	var out api.JoinResponse
	if err := c.call("POST", "/v1/join", api.JoinRequest{Addrs: fs.Args(), Replay: *replay}, &out); err != nil {
		return fail(e, "join", err)
	}
	fmt.Fprintf(e.stdout, "Successfully joined cluster by contacting %d nodes.\n", out.Joined)
	return exitOK
}

func runLeave(e env, args []string) int {
	fs := newFlags(e, "leave", "")
	c := fs.client()
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if err := c.call("POST", "/v1/leave", struct{}{}, nil); err != nil {
		return fail(e, "leave", err)
	}
	fmt.Fprintln(e.stdout, "Graceful leave complete; the agent is exiting.")
	return exitOK
}

func runForceLeave(e env, args []string) int {
	fs := newFlags(e, "force-leave", "[-prune] NODE")
	c := fs.client()
	prune := fs.Bool("prune", false, "forget the member at once instead of keeping it as left")
	if code, ok := fs.parseArgs(args, 1, 1, "name exactly one node"); !ok {
		return code
	}
	if err := c.call("POST", "/v1/force-leave", api.ForceLeaveRequest{Node: fs.Arg(0), Prune: *prune}, nil); err != nil {
		return fail(e, "force-leave", err)
	}
	return exitOK
}

func runEvent(e env, args []string) int {
	fs := newFlags(e, "event", "[-coalesce=false] NAME [PAYLOAD]")
	c := fs.client()
	coalesce := fs.Bool("coalesce", true, "let agents coalesce events of the same name, delivering the latest")
	if code, ok := fs.parseArgs(args, 1, 2, "give an event NAME and at most one PAYLOAD"); !ok {
		return code
	}
	req := api.EventRequest{Name: fs.Arg(0), Payload: fs.Arg(1), Coalesce: coalesce}
	if err := c.call("POST", "/v1/event", req, nil); err != nil {
		return fail(e, "event", err)
	}
	fmt.Fprintf(e.stdout, "Event '%s' dispatched! Coalescing enabled: %v\n", req.Name, *coalesce)
	return exitOK
}

func runQuery(e env, args []string) int {
	fs := newFlags(e, "query", "[-node NAME]... [-tag KEY=REGEX]... [-timeout D] [-no-ack] [-relay-factor N] [-format text|json] NAME [PAYLOAD]")
	c := fs.client()
	var nodes, tags repeated
	fs.Var(&nodes, "node", "ask only node `NAME` (repeatable)")
	fs.Var(&tags, "tag", "ask only members with a tag matching `KEY=REGEX` (repeatable)")
	timeout := fs.durationFlag("timeout", "how long to wait for responses (default: scaled to the cluster size)")
	noAck := fs.Bool("no-ack", false, "do not ask members to acknowledge")
	relay := fs.Uint("relay-factor", 0, "also relay each ack and response through `N` (0-255) other members, to survive packet loss")
	format := fs.formatFlag("output `format`: text or json (one JSON object per line)")
	if code, ok := fs.parseArgs(args, 1, 2, "give a query NAME and at most one PAYLOAD"); !ok {
		return code
	}
	if *relay > 255 {
		return fs.usageErr("-relay-factor %d is over 255", *relay)
	}
	req := api.QueryRequest{Name: fs.Arg(0), Payload: fs.Arg(1), Nodes: nodes, NoAck: *noAck, RelayFactor: uint8(*relay)}
	if *timeout > 0 {
		req.Timeout = timeout.String()
	}
	for _, t := range tags {
		k, v, err := config.ParseTag(t)
		if err != nil {
			return fs.usageErr("-tag: %v", err)
		}
		if req.Tags == nil {
			req.Tags = map[string]string{}
		}
		req.Tags[k] = v
	}
	if *format == "text" && req.Name == api.QueryConfigHash {
		return runConfigHash(e, c, req)
	}
	var dispatched func()
	if *format == "text" {
		// Said once the agent has taken the query, as Serf says it after
		// its RPC call: with no agent there is nothing to have dispatched.
		dispatched = func() { fmt.Fprintf(e.stdout, "Query '%s' dispatched\n", req.Name) }
	}
	err := c.stream("POST", "/v1/query", req, dispatched, func(line []byte) error {
		if *format == "json" {
			_, err := fmt.Fprintf(e.stdout, "%s\n", line)
			return err
		}
		var l api.QueryLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("bad line from the agent: %w", err)
		}
		printQueryLine(e, l)
		return nil
	})
	if err != nil {
		return fail(e, "query", err)
	}
	return exitOK
}

func printQueryLine(e env, l api.QueryLine) {
	switch l.Type {
	case "ack":
		fmt.Fprintf(e.stdout, "Ack from '%s'\n", safe(l.From))
	case "response":
		fmt.Fprintf(e.stdout, "Response from '%s': %s\n", safe(l.From), safe(l.Payload))
	case "done":
		fmt.Fprintf(e.stdout, "Total Acks: %d\nTotal Responses: %d\n", l.Acks, l.Responses)
	}
}

func runMonitor(e env, args []string) int {
	fs := newFlags(e, "monitor", "[-log-level LEVEL]")
	c := fs.client()
	level := fs.String("log-level", "info", "lowest log `level` to show: debug, info, warn, error")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if _, err := config.ParseLevel(*level); err != nil {
		return fs.usageErr("-log-level: %v", err)
	}
	// SIGINT ends the stream; that is how monitor is meant to stop.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	done := make(chan int, 1)
	go func() {
		err := c.stream("GET", "/v1/monitor?level="+url.QueryEscape(*level), nil, nil, func(line []byte) error {
			var l api.MonitorLine
			if err := json.Unmarshal(line, &l); err != nil {
				return fmt.Errorf("bad line from the agent: %w", err)
			}
			printMonitorLine(e, l)
			return nil
		})
		if err == nil {
			// As Serf's monitor: the stream ending without Ctrl-C means
			// the agent went away, which a script watching it must see.
			err = errors.New("the agent ended the stream: it left or is shutting down")
		}
		done <- fail(e, "monitor", err)
	}()
	select {
	case code := <-done:
		return code
	case <-stop:
		return exitOK
	}
}

func printMonitorLine(e env, l api.MonitorLine) {
	ts := l.Time.Local().Format(time.DateTime)
	switch l.Type {
	case "hello":
		fmt.Fprintf(e.stdout, "==> Monitoring the agent at level %s (Ctrl-C to stop)\n", safe(l.Level))
	case "log":
		keys := make([]string, 0, len(l.Attrs))
		for k := range l.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", safe(k), safe(fmt.Sprint(l.Attrs[k])))
		}
		fmt.Fprintf(e.stdout, "%s [%s] %s%s\n", ts, safe(l.Level), safe(l.Message), b.String())
	case "event":
		what := safe(strings.Join(l.Members, ", "))
		if l.Name != "" {
			what = fmt.Sprintf("%s (ltime %d) %q", safe(l.Name), l.LTime, l.Payload)
		}
		fmt.Fprintf(e.stdout, "%s [EVENT] %s: %s\n", ts, safe(l.Event), what)
	}
}

func runTags(e env, args []string) int {
	fs := newFlags(e, "tags", "[-set KEY=VALUE]... [-delete KEY]...")
	c := fs.client()
	var set, del repeated
	fs.Var(&set, "set", "set tag `KEY=VALUE` (repeatable)")
	fs.Var(&del, "delete", "delete tag `KEY` (repeatable)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	var tags map[string]string
	var err error
	if len(set) == 0 && len(del) == 0 {
		err = c.call("GET", "/v1/tags", nil, &tags)
	} else {
		req := api.TagsRequest{Set: map[string]string{}, Delete: del}
		for _, s := range set {
			k, v, perr := config.ParseTag(s)
			if perr != nil {
				return fs.usageErr("-set: %v", perr)
			}
			req.Set[k] = v
		}
		err = c.call("POST", "/v1/tags", req, &tags)
	}
	if err != nil {
		return fail(e, "tags", err)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "%s=%s\n", safe(k), safe(tags[k]))
	}
	return exitOK
}

func runKeygen(e env, args []string) int {
	fs := newFlags(e, "keygen", "")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	key, err := config.GenerateKey()
	if err != nil {
		return fail(e, "keygen", err)
	}
	fmt.Fprintln(e.stdout, key)
	return exitOK
}

func runKeys(e env, args []string) int {
	fs := newFlags(e, "keys", "-list | -install KEY | -use KEY | -remove KEY")
	c := fs.client()
	list := fs.Bool("list", false, "list the keys each member has")
	install := fs.String("install", "", "install `KEY` on every member")
	use := fs.String("use", "", "make `KEY` the primary (encrypting) key everywhere")
	remove := fs.String("remove", "", "remove `KEY` from every member")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	ops := 0
	for _, set := range []bool{*list, *install != "", *use != "", *remove != ""} {
		if set {
			ops++
		}
	}
	if ops != 1 {
		return fs.usageErr("give exactly one of -list, -install, -use, -remove")
	}
	for _, k := range []string{*install, *use, *remove} {
		if k != "" {
			if _, err := config.DecodeKey(k); err != nil {
				return fs.usageErr("%v", err)
			}
		}
	}
	var kr api.KeyResponse
	var err error
	switch {
	case *list:
		err = c.call("GET", "/v1/keys", nil, &kr)
	case *install != "":
		err = c.call("POST", "/v1/keys/install", api.KeyRequest{Key: *install}, &kr)
	case *use != "":
		err = c.call("POST", "/v1/keys/use", api.KeyRequest{Key: *use}, &kr)
	default:
		err = c.call("POST", "/v1/keys/remove", api.KeyRequest{Key: *remove}, &kr)
	}
	if err != nil {
		return fail(e, "keys", err)
	}
	if *list {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tNODES\tPRIMARY")
		keys := make([]string, 0, len(kr.Keys))
		for k := range kr.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d\n", safe(k), kr.Keys[k], kr.NumNodes, kr.PrimaryKeys[k])
		}
		_ = tw.Flush()
		return exitOK
	}
	fmt.Fprintf(e.stdout, "Done: %d of %d nodes answered.\n", kr.NumResp, kr.NumNodes)
	return exitOK
}

func runInfo(e env, args []string) int {
	fs := newFlags(e, "info", "[-format text|json]")
	c := fs.client()
	format := fs.formatFlag("output `format`: text or json")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	var info api.Info
	if err := c.call("GET", "/v1/info", nil, &info); err != nil {
		return fail(e, "info", err)
	}
	return printAs(e, *format, info, func() { printInfo(e, info) })
}

func printInfo(e env, info api.Info) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%s\n", safe(k), safe(fmt.Sprint(v))) }
	row("name", info.Name)
	row("version", info.Version)
	row("gossip_addr", info.GossipAddr)
	row("http_addr", info.HTTPAddr)
	row("dns_addr", info.DNSAddr)
	row("domain", info.Domain)
	row("gossip_encrypted", info.Encrypted)
	row("insecure_gossip", info.Insecure)
	row("tags", tagString(info.Tags))
	row("services", serviceString(info.Services))
	row("handlers", strings.Join(info.Handlers, " "))
	row("templates", strings.Join(info.Templates, " "))
	keys := make([]string, 0, len(info.Stats))
	for k := range info.Stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row(k, info.Stats[k])
	}
	_ = tw.Flush()
}

func runRender(e env, args []string) int {
	fs := newFlags(e, "render", "[-once] [-dry] [-template NAME] [-format text|json]")
	c := fs.client()
	once := fs.Bool("once", false, "render every template now, install, validate and reload like the agent does, then print the status")
	dry := fs.Bool("dry", false, "print what would be written, from the agent's live data, without writing or reloading")
	tmpl := fs.String("template", "", "with -once, render only the template `NAME` (name or destination)")
	format := fs.formatFlag("output `format`: text or json")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *tmpl != "" && !*once {
		return fs.usageErr("-template goes with -once")
	}
	var out api.RenderResponse
	var err error
	switch {
	case *dry:
		// -dry wins over -once: it must never write or reload.
		err = c.call("GET", "/v1/render?dry=1", nil, &out)
	case *once:
		err = c.call("POST", "/v1/render", api.RenderRequest{Template: *tmpl}, &out)
	default:
		err = c.call("GET", "/v1/render", nil, &out)
	}
	if err != nil {
		return fail(e, "render", err)
	}
	if *format == "json" {
		return printJSON(e, out)
	}
	if *dry {
		code := exitOK
		for _, r := range out.Results {
			if r.Error != "" {
				fmt.Fprintf(e.stdout, "==> %s (%s): would fail: %s\n", safe(r.Name), safe(r.Destination), safe(r.Error))
				code = exitFail
				continue
			}
			change := "unchanged"
			if r.Changed {
				change = "would change"
			}
			fmt.Fprintf(e.stdout, "==> %s (%s): %s, %d backends, sha256 %s\n%s", safe(r.Name), safe(r.Destination), change, r.Backends, safe(r.Hash), safeLines(r.Content))
			if !strings.HasSuffix(r.Content, "\n") {
				fmt.Fprintln(e.stdout)
			}
		}
		if len(out.Results) == 0 {
			fmt.Fprintln(e.stdout, "The agent has no templates.")
		}
		warnInsecure(e, out.GossipSecurity)
		return code
	}
	code := printRenderStatus(e, out.Templates)
	warnInsecure(e, out.GossipSecurity)
	return code
}

// warnInsecure tells, under render output, that what was rendered came
// over unauthenticated gossip.
func warnInsecure(e env, sec api.GossipSecurity) {
	if sec.Insecure {
		fmt.Fprintln(e.stdout, "WARNING: gossip has no key (insecure_gossip): anyone who reaches the gossip port can change what is rendered.")
	}
}

// printRenderStatus prints one row per template; the exit status is 1 if
// any template's last render failed.
func printRenderStatus(e env, st []api.TemplateStatus) int {
	if len(st) == 0 {
		fmt.Fprintln(e.stdout, "The agent has no templates.")
		return exitOK
	}
	code := exitOK
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tDESTINATION\tBACKEND\tLAST RENDER\tRESULT\tHASH\tBACKENDS\tRENDERS\tINSTALLS\tAPPLIED\tRELOADS\tFAILURES")
	for _, s := range st {
		result, last := "ok", "never"
		if !s.LastRender.IsZero() {
			last = s.LastRender.Local().Format(time.DateTime)
		}
		switch {
		case s.ReloadPending:
			// The file is installed but the load balancer does not run it.
			result, code = "INSTALLED, RELOAD FAILED", exitFail
		case !s.OK || s.TemplateError != "":
			result, code = "FAILED", exitFail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", safe(s.Name), safe(s.Destination), safe(orDash(s.Backend)), last, result,
			safe(orDash(shortHash(s.Hash))), s.Backends, s.Renders, s.Installs, s.Applied, s.Reloads, s.Failures)
	}
	_ = tw.Flush()
	for _, s := range st {
		if s.Error != "" {
			fmt.Fprintf(e.stdout, "%s: %s\n", safe(s.Name), safe(s.Error))
		}
		if s.ReloadPending {
			fmt.Fprintf(e.stdout, "%s: the installed file is not live: the load balancer runs the previous one; next reload try %s\n",
				safe(s.Name), s.NextReloadRetry.Local().Format(time.DateTime))
		}
		if s.TemplateError != "" {
			fmt.Fprintf(e.stdout, "%s: template: %s\n", safe(s.Name), safe(s.TemplateError))
		}
		for _, x := range s.Excluded {
			fmt.Fprintf(e.stdout, "%s: member %s left out: %s\n", safe(s.Name), safe(x.Member), safe(x.Reason))
		}
		printRuntime(e, s.Name, s.Runtime)
	}
	return code
}

// printRuntime prints what a template's HAProxy did through its Runtime
// API, one line, and why the last change needed a reload or what the last
// drift was.
func printRuntime(e env, name string, rt *api.RuntimeStatus) {
	if rt == nil {
		return
	}
	fmt.Fprintf(e.stdout, "%s: runtime: %d applied, %d commands, %d servers added, %d removed, %d draining, %d ghosts; %d fallbacks to a reload, %d drift repairs, %d reloads\n",
		safe(name), rt.Applies, rt.Commands, rt.ServersAdded, rt.ServersRemoved, rt.Draining, rt.Ghosts, rt.Fallbacks, rt.DriftRepairs, rt.Reloads)
	if rt.LastFallback != "" {
		fmt.Fprintf(e.stdout, "%s: runtime: last fallback: %s\n", safe(name), safe(rt.LastFallback))
	}
	if rt.LastDrift != "" {
		fmt.Fprintf(e.stdout, "%s: runtime: last drift: %s\n", safe(name), safe(rt.LastDrift))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortHash shortens a sha256 for tables; 12 hex digits tell configs apart.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func runVersion(e env, args []string) int {
	fmt.Fprintln(e.stdout, buildinfo.String())
	return exitOK
}

// runConfigHash runs the built-in config-hash query and prints, node by
// node, the hash of each template's installed file, then how many distinct
// configurations the cluster serves, so drift shows at a glance.
func runConfigHash(e env, c *client, req api.QueryRequest) int {
	type answer struct {
		node string
		ch   api.ConfigHash
		bad  string
	}
	var answers []answer
	acks := 0
	err := c.stream("POST", "/v1/query", req, nil, func(line []byte) error {
		var l api.QueryLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("bad line from the agent: %w", err)
		}
		switch l.Type {
		case "ack":
			acks++
		case "response":
			a := answer{node: l.From}
			if err := json.Unmarshal([]byte(l.Payload), &a.ch); err != nil {
				a.bad = l.Payload
			}
			answers = append(answers, a)
		}
		return nil
	})
	if err != nil {
		return fail(e, "query", err)
	}
	sort.Slice(answers, func(i, j int) bool { return answers[i].node < answers[j].node })
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTEMPLATE\tHASH\tLAST RENDER")
	hashes := map[string]bool{}
	rendering, failed := 0, 0
	for _, a := range answers {
		if a.bad != "" {
			fmt.Fprintf(tw, "%s\t-\t-\tunreadable answer: %q\n", safe(a.node), clipText(a.bad, 60))
			continue
		}
		if len(a.ch.Templates) == 0 {
			fmt.Fprintf(tw, "%s\t(no templates)\t-\t-\n", safe(a.node))
			continue
		}
		rendering++
		for _, t := range a.ch.Templates {
			result := "ok"
			if !t.OK {
				result = "FAILED: " + t.Error
				failed++
			}
			if t.Hash != "" {
				hashes[t.Name+"\x00"+t.Hash] = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", safe(a.node), safe(t.Name), safe(orDash(shortHash(t.Hash))), safe(result))
		}
		if a.ch.More > 0 {
			fmt.Fprintf(tw, "%s\t(%d more templates)\t-\t-\n", safe(a.node), a.ch.More)
		}
	}
	_ = tw.Flush()
	plural := "es"
	if len(hashes) == 1 {
		plural = ""
	}
	fmt.Fprintf(e.stdout, "%d nodes, %d distinct hash%s (%d nodes render templates, %d acks, %d failed renders)\n",
		len(answers), len(hashes), plural, rendering, acks, failed)
	return exitOK
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
