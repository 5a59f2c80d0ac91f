package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/node"
)

// TestVerbs_TwoAgents drives a two-agent cluster through every client
// verb, phase by phase, in the order a user would. The phases share the
// cluster: tags set in one are gone before the next, the service
// registered is deregistered, and force-leave, which stops beta, is last.
func TestVerbs_TwoAgents(t *testing.T) {
	a, b, key := startPair(t)
	t.Run("members", func(t *testing.T) { membersPhase(t, a, b) })
	t.Run("info", func(t *testing.T) { infoPhase(t, a) })
	t.Run("tags", func(t *testing.T) { tagsPhase(t, a, b) })
	t.Run("event", func(t *testing.T) { eventPhase(t, a, b) })
	t.Run("query", func(t *testing.T) { queryPhase(t, a) })
	t.Run("rtt", func(t *testing.T) { rttPhase(t, a) })
	t.Run("reachability", func(t *testing.T) { reachabilityPhase(t, a) })
	t.Run("render", func(t *testing.T) { renderPhase(t, a) })
	t.Run("services", func(t *testing.T) { servicesPhase(t, a, b) })
	t.Run("maint", func(t *testing.T) { nodeMaintPhase(t, a, b) })
	t.Run("keys", func(t *testing.T) { keysPhase(t, a, key) })
	t.Run("force-leave", func(t *testing.T) { forceLeavePhase(t, a, b) })
}

// membersPhase: Serf's columns (name, addr, status), the filters and JSON.
func membersPhase(t *testing.T, a, b *inprocAgent) {
	out := a.mustRun(t, "members")
	for _, x := range []*inprocAgent{a, b} {
		if lineWith(out, x.Name(), x.GossipAddr(), "alive") == "" {
			t.Errorf("shoal members: no line %q in:\n%s", x.Name()+"  "+x.GossipAddr()+"  alive", out)
		}
	}
	if n := len(lines(out)); n != 2 {
		t.Errorf("shoal members: %d lines, want 2:\n%s", n, out)
	}
	out = a.mustRun(t, "members", "-detailed")
	if l := lineWith(out, "beta", b.GossipAddr(), "alive"); !strings.Contains(l, "Protocol Version: ") || !strings.Contains(l, "Available Protocol Range: [") {
		t.Errorf("shoal members -detailed: beta's line %q lacks the protocol columns; output:\n%s", l, out)
	}
	// As in Serf, the filters match whole values: "bet" is no one.
	if out = a.mustRun(t, "members", "-name", "bet"); out != "\n" {
		t.Errorf("shoal members -name bet: got %q, want an empty line", out)
	}
	out = a.mustRun(t, "members", "-name", "bet.*")
	if ls := lines(out); len(ls) != 1 || lineWith(out, "beta") == "" {
		t.Errorf("shoal members -name bet.*: got\n%s\nwant beta's line only", out)
	}
	if out = a.mustRun(t, "members", "-status", "failed|left"); out != "\n" {
		t.Errorf("shoal members -status failed|left: got %q, want an empty line", out)
	}
	var ms []api.Member
	if err := json.Unmarshal([]byte(a.mustRun(t, "members", "-format", "json")), &ms); err != nil {
		t.Fatalf("shoal members -format json: %v", err)
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.Name] = fmt.Sprintf("%s:%d %s", m.Addr, m.Port, m.Status)
	}
	want := map[string]string{"alpha": a.GossipAddr() + " alive", "beta": b.GossipAddr() + " alive"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shoal members -format json: got %v, want %v", got, want)
	}
}

// infoPhase: the text rows and the JSON, and an -http-addr given as a URL.
func infoPhase(t *testing.T, a *inprocAgent) {
	out := a.mustRun(t, "info")
	for _, row := range [][]string{
		{"name:", "alpha"}, {"gossip_addr:", a.GossipAddr()}, {"http_addr:", a.addr},
		{"gossip_encrypted:", "true"}, {"insecure_gossip:", "false"}, {"members:", "2"}, {"alive:", "2"},
	} {
		if lineWith(out, row...) == "" {
			t.Errorf("shoal info: no row %q in:\n%s", row, out)
		}
	}
	code, out, errOut := shoal("info", "-format", "json", "-http-addr", "http://"+a.addr+"/")
	var info api.Info
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
		t.Fatalf("shoal info -format json at a URL: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if info.Name != "alpha" || info.HTTPAddr != a.addr || !info.Encrypted {
		t.Errorf("shoal info -format json: got name %q, http_addr %q, encrypted %v; want alpha, %s, true", info.Name, info.HTTPAddr, info.Encrypted, a.addr)
	}
}

// tagsPhase: a tag set on alpha reaches beta's members, its -role and
// -tag filters and a query's -tag filter; deleting it empties the list.
func tagsPhase(t *testing.T, a, b *inprocAgent) {
	if out := a.mustRun(t, "tags", "-set", "role=web", "-set", "dc=eu"); out != "dc=eu\nrole=web\n" {
		t.Errorf("shoal tags -set: got %q, want both tags, sorted", out)
	}
	if out := a.mustRun(t, "tags", "-delete", "dc"); out != "role=web\n" {
		t.Errorf("shoal tags -delete dc: got %q, want role=web", out)
	}
	if out := a.mustRun(t, "tags"); out != "role=web\n" {
		t.Errorf("shoal tags: got %q, want role=web", out)
	}
	waitOutput(t, b, "members", nil, func(out string) error {
		if l := lineWith(out, "alpha", a.GossipAddr(), "alive", "role=web"); l == "" {
			return fmt.Errorf("alpha's line has no role=web")
		}
		return nil
	})
	for _, filter := range [][]string{{"-role", "w.b"}, {"-tag", "role=^web$"}} {
		if out := b.mustRun(t, "members", filter...); len(lines(out)) != 1 || lineWith(out, "alpha") == "" {
			t.Errorf("shoal members %q: got\n%s\nwant alpha's line only", filter, out)
		}
	}
	out := waitOutput(t, b, "query", []string{"-tag", "role=web", "-timeout", queryTimeout, "-format", "json", "who"}, func(out string) error {
		return contains(out, `{"type":"ack","from":"alpha"}`)
	})
	if strings.Contains(out, `"from":"beta"`) {
		t.Errorf("shoal query -tag role=web: got\n%s\nwant an ack from alpha only", out)
	}
	if out := a.mustRun(t, "tags", "-delete", "role"); out != "" {
		t.Errorf("shoal tags -delete role: got %q, want nothing", out)
	}
}

// eventPhase: a user event sent through alpha reaches beta's subscribers
// with its payload.
func eventPhase(t *testing.T, a, b *inprocAgent) {
	events, stop := b.Subscribe(64)
	defer stop()
	out := a.mustRun(t, "event", "-coalesce=false", "deploy", "v1.2")
	if want := "Event 'deploy' dispatched! Coalescing enabled: false\n"; out != want {
		t.Errorf("shoal event: got %q, want %q", out, want)
	}
	deadline := time.After(waitLong)
	for {
		select {
		case e := <-events:
			if ue, ok := e.(*node.UserEvent); ok && ue.Name == "deploy" {
				if string(ue.Payload) != "v1.2" || ue.Coalesce {
					t.Errorf("beta got %q with payload %q, coalesce %v; want v1.2, false", ue.Name, ue.Payload, ue.Coalesce)
				}
				return
			}
		case <-deadline:
			t.Fatalf("beta saw no user event deploy in %s", waitLong)
		}
	}
}

// queryTimeout is how long a query waits for acks: it always waits that
// long, so it is short, and the phases retry a query that missed an ack.
const queryTimeout = "2s"

// queryPhase: both members ack; -node narrows; config-hash is a table.
func queryPhase(t *testing.T, a *inprocAgent) {
	out := waitOutput(t, a, "query", []string{"-timeout", queryTimeout, "hello", "there"}, func(out string) error {
		return contains(out, "Ack from 'alpha'\n", "Ack from 'beta'\n", "Total Acks: 2\n")
	})
	if !strings.HasPrefix(out, "Query 'hello' dispatched\n") || !strings.HasSuffix(out, "Total Responses: 0\n") {
		t.Errorf("shoal query: got\n%s\nwant it to open with the dispatch and end with the totals", out)
	}
	out = waitOutput(t, a, "query", []string{"-node", "beta", "-timeout", queryTimeout, "-relay-factor", "1", "-format", "json", "hello"},
		func(out string) error { return contains(out, `"from":"beta"`) })
	var acks []string
	for _, l := range lines(out) {
		var ql api.QueryLine
		if err := json.Unmarshal([]byte(l), &ql); err != nil {
			t.Fatalf("shoal query -format json: line %q: %v", l, err)
		}
		if ql.Type == "ack" {
			acks = append(acks, ql.From)
		}
	}
	if fmt.Sprint(acks) != "[beta]" {
		t.Errorf("shoal query -node beta: acks from %v, want [beta]; output:\n%s", acks, out)
	}
	out = waitOutput(t, a, "query", []string{"-timeout", queryTimeout, "config-hash"}, func(out string) error {
		return contains(out, "2 nodes, 0 distinct hashes (0 nodes render templates, 2 acks, 0 failed renders)\n")
	})
	for _, n := range []string{"alpha", "beta"} {
		if lineWith(out, n, "(no", "templates)") == "" {
			t.Errorf("shoal query config-hash: no (no templates) row for %s in:\n%s", n, out)
		}
	}
}

var rttLine = regexp.MustCompile(`^Estimated (\S+) <-> (\S+) rtt: ([0-9.]+) ms\n$`)

// rttPhase: once alpha has probed beta, rtt estimates both ways round;
// an unknown node is one line and exit 1.
func rttPhase(t *testing.T, a *inprocAgent) {
	out := waitOutput(t, a, "rtt", []string{"beta"}, func(string) error { return nil })
	m := rttLine.FindStringSubmatch(out)
	if m == nil || m[1] != "beta" || m[2] != "alpha" {
		t.Fatalf("shoal rtt beta: got %q, want beta <-> alpha (the agent's own node)", out)
	}
	if ms, err := strconv.ParseFloat(m[3], 64); err != nil || ms <= 0 || ms > 10_000 {
		t.Errorf("shoal rtt beta: %s ms is not a plausible loopback estimate", m[3])
	}
	var res struct {
		A, B string
		RTT  float64 `json:"rtt_ms"`
	}
	out = a.mustRun(t, "rtt", "-format", "json", "alpha", "beta")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.A != "alpha" || res.B != "beta" || res.RTT <= 0 {
		t.Errorf("shoal rtt -format json alpha beta: got %q (%v), want a, b and a positive rtt_ms", out, err)
	}
	oneErrorLine(t, a.at([]string{"rtt"}, "nosuch"), 1, `"nosuch"`)
}

// reachabilityPhase: every live member acks the ping query.
func reachabilityPhase(t *testing.T, a *inprocAgent) {
	out := waitOutput(t, a, "reachability", []string{"-verbose", "-timeout", "5s"}, func(string) error { return nil })
	if err := contains(out, "Total members: 2, live members: 2\n", "\tAck from 'alpha'\n", "\tAck from 'beta'\n",
		"Query time: ", "Successfully contacted all live nodes\n"); err != nil {
		t.Errorf("shoal reachability -verbose: %v in:\n%s", err, out)
	}
	var res api.ReachabilityResponse
	out = waitOutput(t, a, "reachability", []string{"-format", "json"}, func(string) error { return nil })
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Members != 2 || len(res.Acked) != 2 || len(res.Missing) != 0 {
		t.Errorf("shoal reachability -format json: got %q (%v), want 2 members, 2 acks, none missing", out, err)
	}
}

// renderPhase: an agent without templates says so, and -once refuses.
func renderPhase(t *testing.T, a *inprocAgent) {
	for _, args := range [][]string{nil, {"-dry"}} {
		if out := a.mustRun(t, "render", args...); out != "The agent has no templates.\n" {
			t.Errorf("shoal render %q: got %q, want the no-templates line", args, out)
		}
	}
	var rr api.RenderResponse
	if out := a.mustRun(t, "render", "-format", "json"); json.Unmarshal([]byte(out), &rr) != nil || len(rr.Templates) != 0 || rr.GossipSecurity.Insecure {
		t.Errorf("shoal render -format json: got %q, want no templates and secure gossip", out)
	}
	oneErrorLine(t, a.at([]string{"render"}, "-once"), 1, "no templates")
}

// keygenKey runs shoal keygen and checks it printed a 32-byte base64 key.
func keygenKey(t *testing.T) string {
	t.Helper()
	code, out, errOut := shoal("keygen")
	key := strings.TrimSuffix(out, "\n")
	raw, err := base64.StdEncoding.DecodeString(key)
	if code != 0 || errOut != "" || err != nil || len(raw) != 32 {
		t.Fatalf("shoal keygen: exit %d, stdout %q, stderr %q: want one base64 32-byte key", code, out, errOut)
	}
	return key
}
