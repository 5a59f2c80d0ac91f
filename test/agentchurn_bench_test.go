//go:build linux

package test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Agent-churn settings: long-lived connections held through the lb, the
// steady load's rate (a new connection per request), and how long a
// change may take to reach the lb.
const (
	churnHeld      = 50
	churnLoadRate  = 100
	churnReflectIn = 30 * time.Second
	churnCheckID   = "web-check" // the ttl check of churnWebHCL
)

// churnWebHCL declares service web:8080 with a ttl check that starts
// passing and outlasts the run, so only `shoal check fail|pass web-check`
// moves it.
const churnWebHCL = `
service {
  name = "web"
  port = 8080
  check {
    ttl            = "1h"
    initial_status = "passing"
  }
}
`

// The kinds of membership change, each driven through a real agent.
const (
	kindLeave    = "leave"      // SIGINT: the agent leaves gracefully; its server drains
	kindRejoin   = "rejoin"     // the agent starts again and joins
	kindMaintOn  = "maint on"   // shoal maint -enable: the instance drains
	kindMaintOff = "maint off"  // shoal maint -disable
	kindFail     = "check fail" // shoal check fail: critical, its sessions are shut at once
	kindPass     = "check pass" // shoal check pass
)

var churnKinds = []string{kindLeave, kindRejoin, kindMaintOn, kindMaintOff, kindFail, kindPass}

// TestBenchAgentChurn is issue 12's "Must show" at the agent level: four
// web hosts and an lb in namespaces (the built-in HAProxy template on its
// Runtime API path, test timings, drain_timeout 10m so a drain never
// expires during the run), and CHANGES (default 100) membership changes
// driven through the web hosts' agents, in a seeded random order (SEED,
// default 1), the pool never empty: graceful leaves (SIGINT) and rejoins,
// maintenance on and off, and a ttl check failed and passed again. Only
// the last web host's check is ever failed, so the long-lived connections
// a critical server loses on purpose (its sessions are shut at once, by
// design) are those that reached that host, and every other one must
// survive: leaves and maintenance drain. Meanwhile the lb serves a steady
// load, a new connection per request, and holds 50 long-lived
// connections. After each change it waits until the lb's file and
// haproxy's "show servers state" both reflect it, and records whether they
// agree. It fails only on correctness: a reload, a failed request, a
// disagreement, or a long-lived connection lost without a reason.
// SHOAL_BENCH=1 runs it (test/agent-churn.sh).
func TestBenchAgentChurn(t *testing.T) {
	if os.Getenv("SHOAL_BENCH") != "1" {
		t.Skip("skipping: set SHOAL_BENCH=1 (or run test/agent-churn.sh) for the agent-churn benchmark")
	}
	needShoal(t)
	n, seed := envInt("CHANGES", 100), envInt("SEED", 1)
	c := NewCluster(t, bins, Options{Web: 4, LBs: 1, WebHCL: churnWebHCL, LBHCL: LBTemplateWith(`drain_timeout = "10m"`)})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	b := &agentChurn{t: t, c: c, rng: rand.New(rand.NewPCG(uint64(seed), 0))}
	for i, a := range c.Web {
		b.hosts = append(b.hosts, &churnHost{a: a, state: "up", ttl: i == len(c.Web)-1})
	}
	b.readBefore()
	hold, err := c.LB.StartHold("hold", bins.Tool, LBURL, churnHeld)
	if err != nil {
		t.Fatal(err)
	}
	load, err := c.LB.StartLoad("load", bins.Tool, LBURL, "-rate", fmt.Sprint(churnLoadRate), "-duration", "30m", "-timeout", "5s")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b.change(i + 1)
	}
	if b.load, err = load.Stop(); err != nil {
		t.Fatal(err)
	}
	if b.held, err = hold.Stop(); err != nil {
		t.Fatal(err)
	}
	b.readAfter()
	r := b.report(seed)
	t.Log(r.details)
	fmt.Println(r.summary)
	b.judge()
}

// churnHost is a web host and where the churn has put it.
type churnHost struct {
	a     *Agent
	state string // up, left, maint or critical
	ttl   bool   // its ttl check is the one failed
}

// churnChange is one change and what the lb did with it.
type churnChange struct {
	n          int
	kind, host string
	start      time.Time
	// took is from the change until the lb agent logged the install of
	// the file that reflects it (applied to haproxy and checked with show
	// servers state first); seen until the test saw the file and show
	// servers state reflect it and the agent settled.
	took, seen time.Duration
	installs   int
	diffs      []string // file vs show servers state, once settled
}

// agentChurn is one run.
type agentChurn struct {
	t       *testing.T
	c       *Cluster
	rng     *rand.Rand
	hosts   []*churnHost
	changes []churnChange

	before, after       RenderStatus
	procBefore, procEnd ProcStatus
	load                LoadResult
	held                []HeldConn
}

func (b *agentChurn) readBefore() {
	var err error
	if b.before, err = b.c.LB.Template(); err != nil {
		b.t.Fatal(err)
	}
	if b.procBefore, err = b.c.LB.HAProxy.Status(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *agentChurn) readAfter() {
	var err error
	if b.after, err = b.c.LB.Template(); err != nil {
		b.t.Fatal(err)
	}
	if b.procEnd, err = b.c.LB.HAProxy.Status(); err != nil {
		b.t.Fatal(err)
	}
}

// pick chooses the next change at random among those the hosts' states
// allow, never taking the last routable host out of the pool.
func (b *agentChurn) pick() (*churnHost, string) {
	up := 0
	for _, h := range b.hosts {
		if h.state == "up" {
			up++
		}
	}
	type option struct {
		h    *churnHost
		kind string
	}
	var opts []option
	for _, h := range b.hosts {
		switch {
		case h.state == "up" && up > 1:
			opts = append(opts, option{h, kindLeave}, option{h, kindMaintOn})
			if h.ttl {
				opts = append(opts, option{h, kindFail})
			}
		case h.state == "left":
			opts = append(opts, option{h, kindRejoin})
		case h.state == "maint":
			opts = append(opts, option{h, kindMaintOff})
		case h.state == "critical":
			opts = append(opts, option{h, kindPass})
		}
	}
	o := opts[b.rng.IntN(len(opts))]
	return o.h, o.kind
}

// do makes one change through the host's agent.
func (b *agentChurn) do(h *churnHost, kind string) error {
	var args []string
	switch kind {
	case kindLeave:
		h.state = "left"
		return h.a.Leave()
	case kindRejoin:
		h.state = "up"
		h.a.Rejoin()
		return nil
	case kindMaintOn:
		h.state, args = "maint", []string{"maint", "-enable", "-reason", "agent-churn"}
	case kindMaintOff:
		h.state, args = "up", []string{"maint", "-disable"}
	case kindFail:
		h.state, args = "critical", []string{"check", "fail", churnCheckID}
	case kindPass:
		h.state, args = "up", []string{"check", "pass", churnCheckID}
	}
	out, err := h.a.Shoal(b.t.Context(), args...)
	if err != nil {
		return fmt.Errorf("shoal %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// change makes change n and waits until the lb reflects it.
func (b *agentChurn) change(n int) {
	t, lb := b.t, b.c.LB
	h, kind := b.pick()
	ch := churnChange{n: n, kind: kind, host: h.a.Name, start: time.Now()}
	if err := b.do(h, kind); err != nil {
		t.Fatalf("change %d (%s %s): %v", n, kind, h.a.Name, err)
	}
	var want []string
	for _, o := range b.hosts {
		if o.state == "up" {
			want = append(want, o.a.Name)
		}
	}
	if err := poll(churnReflectIn, func() error { return lb.CheckServing(want) }); err != nil {
		t.Fatalf("change %d (%s %s): the lb did not reflect it: %v", n, kind, h.a.Name, err)
	}
	ch.seen = time.Since(ch.start)
	diffs, err := fileVsState(lb)
	if err != nil {
		t.Fatal(err)
	}
	ch.diffs = diffs
	ch.took, ch.installs = installedAfter(t, lb, ch.start)
	if ch.took < 0 {
		ch.took = ch.seen
	}
	b.changes = append(b.changes, ch)
	agree := "agree"
	if len(diffs) > 0 {
		agree = "DISAGREE: " + strings.Join(diffs, "; ")
	}
	t.Logf("change %d: %s %s: lb reflects it after %.3f s (seen %.3f s), %d install(s), pool %v, file and show servers state %s",
		n, kind, h.a.Name, ch.took.Seconds(), ch.seen.Seconds(), ch.installs, want, agree)
}

// installedAfter reads the lb agent's log for the installs since start and
// returns how long after start the one of the file now on disk was
// logged (-1 if none was) and how many there were.
func installedAfter(t *testing.T, lb *Agent, start time.Time) (time.Duration, int) {
	t.Helper()
	data, err := os.ReadFile(lb.LBConfig())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	all := logTimes(lb.Proc.Log, start, "msg=installed")
	this := logTimes(lb.Proc.Log, start, "msg=installed", "hash="+hex.EncodeToString(sum[:]))
	if len(this) == 0 {
		return -1, len(all)
	}
	return this[0].Sub(start), len(all)
}

// fileVsState compares the lb's file with its haproxy's "show servers
// state": every server line runs at its address and weight, in the
// file's maintenance state and not draining, and every running server
// the file does not list takes no new connections (draining or in
// maintenance). It returns the differences, sorted.
func fileVsState(lb *Agent) ([]string, error) {
	file, err := lb.ServerLines()
	if err != nil {
		return nil, err
	}
	rows, err := serversState(lb.HAProxy)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for name, f := range file {
		r, ok := rows[name]
		switch {
		case !ok:
			diffs = append(diffs, name+" is in the file but does not run")
		case r.addr != f.Addr || r.weight != f.Weight || (r.admin&0x01 != 0) != f.Disabled || r.admin&0x08 != 0:
			diffs = append(diffs, fmt.Sprintf("%s: file %s weight %d disabled %t, running %s weight %d admin %#x",
				name, f.Addr, f.Weight, f.Disabled, r.addr, r.weight, r.admin))
		}
	}
	for name, r := range rows {
		if _, ok := file[name]; !ok && r.admin&0x09 == 0 {
			diffs = append(diffs, name+" is not in the file but takes new connections")
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

// heldFate sorts the long-lived connections: open at the end, shut on
// purpose (closed while the server it reached was turning critical: from
// that check's failure until a second after the lb reflected it), or lost
// otherwise, each of these described.
func (b *agentChurn) heldFate() (alive, shut int, lost []string) {
	for _, hc := range b.held {
		closed := hc.Closed()
		if closed.IsZero() {
			alive++
			continue
		}
		purpose := slices.ContainsFunc(b.changes, func(ch churnChange) bool {
			return ch.kind == kindFail && ch.host == hc.Server &&
				!closed.Before(ch.start) && !closed.After(ch.start.Add(ch.seen+time.Second))
		})
		if purpose {
			shut++
			continue
		}
		lost = append(lost, fmt.Sprintf("on %s after %d answers, at %s: %s", hc.Server, hc.Answers, closed.Format("15:04:05.000"), hc.Err))
	}
	return alive, shut, lost
}

// churnReport is the run's report: details for the test log and a
// one-line summary.
type churnReport struct{ details, summary string }

func (b *agentChurn) report(seed int) churnReport {
	kinds, perKind := map[string]int{}, map[string][]time.Duration{}
	var took []time.Duration
	agreed := 0
	for _, ch := range b.changes {
		kinds[ch.kind]++
		perKind[ch.kind] = append(perKind[ch.kind], ch.took)
		took = append(took, ch.took)
		if len(ch.diffs) == 0 {
			agreed++
		}
	}
	var kindList, medians []string
	for _, k := range churnKinds {
		kindList = append(kindList, fmt.Sprintf("%s %d", k, kinds[k]))
		if len(perKind[k]) > 0 {
			medians = append(medians, fmt.Sprintf("%s %.3f", k, median(perKind[k]).Seconds()))
		}
	}
	reloads := b.procEnd.Reloads - b.procBefore.Reloads
	installs, applied := b.after.Installs-b.before.Installs, b.after.Applied-b.before.Applied
	alive, shut, lost := b.heldFate()
	var d strings.Builder
	fmt.Fprintf(&d, "\n%d changes (%s), seed %d; 4 web + 1 lb hosts, test timings, builtin:haproxy on its Runtime API path, drain_timeout 10m\n",
		len(b.changes), strings.Join(kindList, ", "), seed)
	fmt.Fprintf(&d, "haproxy: %d reloads (show proc: reload counter %d -> %d, failed %d; workers %v -> %v); shoal: %d installs, %d applied through the Runtime API, %d reloads\n",
		reloads, b.procBefore.Reloads, b.procEnd.Reloads, b.procEnd.FailedReloads, b.procBefore.Workers, b.procEnd.Workers,
		installs, applied, b.after.Reloads-b.before.Reloads)
	rt, rb := b.after.Runtime, b.before.Runtime
	fmt.Fprintf(&d, "runtime API: %d commands, %d servers added, %d deleted, %d fallbacks %v (last %q), %d drift repairs (last %q), %d draining and %d ghosts at the end\n",
		rt.Commands-rb.Commands, rt.ServersAdded-rb.ServersAdded, rt.ServersRemoved-rb.ServersRemoved,
		rt.Fallbacks-rb.Fallbacks, rt.FallbackReasons, rt.LastFallback, rt.DriftRepairs-rb.DriftRepairs, rt.LastDrift, rt.Draining, rt.Ghosts)
	fmt.Fprintf(&d, "requests: %d failed of %d, by cause %v, first errors %q; answers by backend %v, latency ms (p50 p90 p99 max) %v\n",
		b.load.Failed, b.load.OK+b.load.Failed, b.load.Kinds, b.load.Errors, b.load.Backends, b.load.OKMillis)
	fmt.Fprintf(&d, "long-lived connections: %d/%d survived; %d shut on purpose when their server turned critical (%s); %d lost otherwise %q\n",
		alive, len(b.held), shut, b.heldOnTTLHost(), len(lost), lost)
	fmt.Fprintf(&d, "file and show servers state agreed after %d/%d changes\n", agreed, len(b.changes))
	fmt.Fprintf(&d, "until the lb reflects a change: median %.3f s, p90 %.3f s, max %.3f s; median by kind (s): %s\n",
		median(took).Seconds(), percentile(took, 90).Seconds(), slices.Max(took).Seconds(), strings.Join(medians, ", "))
	summary := fmt.Sprintf("agent churn: %d changes (%s); %d haproxy reloads; %d installs, %d applied via runtime; %d/%d requests failed %v; long-lived %d/%d survived, %d shut on purpose (critical), %d lost otherwise; file = show servers state after %d/%d; median %.3f s per change until the lb reflects it",
		len(b.changes), strings.Join(kindList, ", "), reloads, installs, applied, b.load.Failed, b.load.OK+b.load.Failed, b.load.Kinds,
		alive, len(b.held), shut, len(lost), agreed, len(b.changes), median(took).Seconds())
	return churnReport{details: d.String(), summary: summary}
}

// heldOnTTLHost says how many long-lived connections reached the host
// whose check is failed, and how many of those were shut.
func (b *agentChurn) heldOnTTLHost() string {
	var name string
	for _, h := range b.hosts {
		if h.ttl {
			name = h.a.Name
		}
	}
	on, closed := 0, 0
	for _, hc := range b.held {
		if hc.Server == name {
			on++
			if hc.ClosedNs != 0 {
				closed++
			}
		}
	}
	return fmt.Sprintf("%d of the %d on %s, the host whose check fails", closed, on, name)
}

// judge fails the test on what is wrong, not on what is slow.
func (b *agentChurn) judge() {
	t := b.t
	if r := b.procEnd.Reloads - b.procBefore.Reloads; r > 0 || b.after.Reloads != b.before.Reloads {
		t.Errorf("got %d haproxy reloads (shoal counted %d), want 0", r, b.after.Reloads-b.before.Reloads)
	}
	if b.load.Failed > 0 || b.load.OK == 0 {
		t.Errorf("got %d failed requests of %d (%v: %q), want 0", b.load.Failed, b.load.OK+b.load.Failed, b.load.Kinds, b.load.Errors)
	}
	for _, ch := range b.changes {
		if len(ch.diffs) > 0 {
			t.Errorf("change %d (%s %s): file and show servers state disagree: %s", ch.n, ch.kind, ch.host, strings.Join(ch.diffs, "; "))
		}
	}
	if _, _, lost := b.heldFate(); len(lost) > 0 {
		t.Errorf("got %d long-lived connections lost without their server turning critical, want 0: %q", len(lost), lost)
	}
}
