//go:build linux

package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sideBySidePoll is how often both systems' CLIs are polled while waiting
// for an agent's API and for convergence: the same for both.
const sideBySidePoll = 50 * time.Millisecond

// roundResult is what one round of one system measured.
type roundResult struct {
	converge time.Duration   // start of h1 to every agent listing n alive
	ready    time.Duration   // start of h1 to its API answering (part of converge)
	lastUp   time.Duration   // start of h1 to the last agent's API answering
	join     time.Duration   // one `join` CLI call from a fresh agent to h1
	members  time.Duration   // one `members` CLI call (the CLI's own cost)
	sender   []time.Duration // per event: the sender's own handler ran
	every    []time.Duration // per event: the last handler ran
	rss      float64         // kB, median over the round's agents
	anon     float64         // kB, RssAnon
	pss      float64         // kB, from smaps_rollup
	late     int             // events every handler ran only after eventLate
	lost     int             // events some handler had not run at eventDeadline
}

func (r roundResult) String() string {
	return fmt.Sprintf("converge %s (h1 API after %s, last API after %s), join %s, members call %s, sender %s, every %s, late %d, lost %d, VmRSS %.0f kB, anon %.0f kB, PSS %.0f kB",
		r.converge.Round(time.Millisecond), r.ready.Round(time.Millisecond), r.lastUp.Round(time.Millisecond), r.join.Round(time.Millisecond), r.members.Round(time.Millisecond),
		durs(r.sender), durs(r.every), r.late, r.lost, r.rss, r.anon, r.pss)
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, strconv.FormatInt(d.Milliseconds(), 10))
	}
	return "[" + strings.Join(s, " ") + "] ms"
}

// sideBySideRun is one round of one system on the shared hosts.
type sideBySideRun struct {
	t     *testing.T
	cfg   sideBySideConfig
	sys   *benchSystem
	hosts []*Host // h1..hn; hx is kept apart
	hx    *Host
	tag   string // names this round's files: "serf-r1"
	procs map[*Host]*Proc
}

// runSideBySideRound starts sys's agents on hosts, measures, and kills them.
func runSideBySideRound(t *testing.T, cfg sideBySideConfig, sys *benchSystem, hosts []*Host, round int) (roundResult, error) {
	run := &sideBySideRun{t: t, cfg: cfg, sys: sys, hosts: hosts[:len(hosts)-1], hx: hosts[len(hosts)-1],
		tag: fmt.Sprintf("%s-r%d", strings.ToLower(sys.name), round), procs: map[*Host]*Proc{}}
	defer run.stop()
	var rr roundResult
	var err error
	if rr.converge, rr.ready, rr.lastUp, err = run.converge(); err != nil {
		return rr, fmt.Errorf("join convergence: %w", err)
	}
	// Idle means a few gossip and push/pull rounds after convergence (and
	// the batched member-join handlers done): waiting on the clock is the
	// measurement here, not synchronisation.
	time.Sleep(cfg.settle)
	if rr.rss, rr.anon, rr.pss, err = run.memory(); err != nil {
		return rr, err
	}
	if rr.sender, rr.every, rr.late, rr.lost, err = run.events(); err != nil {
		return rr, fmt.Errorf("events: %w", err)
	}
	if rr.members, err = run.membersCall(); err != nil {
		return rr, err
	}
	if rr.join, err = run.joinCall(); err != nil {
		return rr, fmt.Errorf("join call: %w", err)
	}
	return rr, nil
}

// stop kills the round's agents, so the next round starts from nothing,
// and copies the round's files into SERFBENCH_KEEP when set, to dig in.
func (r *sideBySideRun) stop() {
	for _, p := range r.procs {
		p.Kill()
	}
	keep := os.Getenv("SERFBENCH_KEEP")
	if keep == "" {
		return
	}
	for h := range r.procs {
		dst := filepath.Join(keep, fmt.Sprintf("n%d", len(r.hosts)), h.Name)
		files, _ := filepath.Glob(filepath.Join(h.Dir, "*"+r.tag+"*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err == nil && os.MkdirAll(dst, 0o755) == nil {
				err = os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644)
			}
			if err != nil {
				r.t.Logf("SERFBENCH_KEEP: %v", err)
			}
		}
	}
}

func (r *sideBySideRun) eventLog(h *Host) string {
	return filepath.Join(h.Dir, "events-"+r.tag+".log")
}

// start writes h's handler and starts its agent, joining join unless "".
// The handler stamps user events with the wall clock (shared by all
// namespaces) before anything else, and reads its stdin as handlers do.
func (r *sideBySideRun) start(h *Host, join string) error {
	handler := filepath.Join(h.Dir, "handler-"+r.tag+".sh")
	body := fmt.Sprintf("#!/bin/sh\n[ \"$SERF_EVENT\" = user ] || { cat >/dev/null; exit 0; }\nt=$(date +%%s%%N)\ncat >/dev/null\necho \"$t $SERF_USER_EVENT\" >> %s\n", r.eventLog(h))
	if err := os.WriteFile(handler, []byte(body), 0o755); err != nil {
		return err
	}
	args := append([]string{r.sys.bin}, r.sys.agent(h, r.cfg.key, handler, join)...)
	p, err := h.Start("agent-"+r.tag, nil, args...)
	if err != nil {
		return err
	}
	r.procs[h] = p
	return nil
}

// waitAlive polls h's agent until it lists want alive members.
func (r *sideBySideRun) waitAlive(h *Host, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := r.sys.aliveCount(h)
		if err == nil && n == want {
			return nil
		}
		if p := r.procs[h]; p.Exited() {
			return fmt.Errorf("%s's agent exited: %v\n%s", h.Name, p.Wait(0), p.Tail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s %s lists %d alive (err %v), want %d\n%s", timeout, h.Name, n, err, want, r.procs[h].Tail(20))
		}
		time.Sleep(sideBySidePoll) // polling interval, the same for both systems
	}
}

// converge starts h1, waits for its API, starts the others joining h1 at
// once, and returns the time from h1's start until every agent lists n
// alive, until h1's API answered, and until the last agent's API answered
// (start-up, as against gossip). Agents already converged are not polled
// again, so the polling load falls as agents converge.
func (r *sideBySideRun) converge() (all, ready, lastUp time.Duration, err error) {
	n := len(r.hosts)
	start := time.Now()
	if err := r.start(r.hosts[0], ""); err != nil {
		return 0, 0, 0, err
	}
	if err := r.waitAlive(r.hosts[0], 1, 30*time.Second); err != nil {
		return 0, 0, 0, err
	}
	ready = time.Since(start)
	seed := fmt.Sprintf("%s:%d", r.hosts[0].IP, GossipPort)
	for _, h := range r.hosts[1:] {
		if err := r.start(h, seed); err != nil {
			return 0, 0, 0, err
		}
	}
	upAt := map[*Host]time.Duration{r.hosts[0]: ready}
	dumped := false
	pending := append([]*Host(nil), r.hosts...)
	deadline := start.Add(time.Minute)
	for {
		var still []*Host
		for _, h := range pending {
			c, err := r.sys.aliveCount(h)
			if _, seen := upAt[h]; err == nil && !seen {
				upAt[h] = time.Since(start)
			}
			if err != nil || c != n {
				still = append(still, h)
			}
		}
		if len(still) == 0 {
			all = time.Since(start)
			for _, d := range upAt {
				lastUp = max(lastUp, d)
			}
			return all, ready, lastUp, nil
		}
		for _, h := range still {
			if p := r.procs[h]; p.Exited() {
				return 0, 0, 0, fmt.Errorf("%s's agent exited: %v\n%s", h.Name, p.Wait(0), p.Tail(20))
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("after a minute %d agents (first %s) do not list %d alive", len(still), still[0].Name, n)
		}
		if !dumped && time.Since(start) > slowConverge {
			dumped = true
			r.logViews(still)
		}
		pending = still
		time.Sleep(sideBySidePoll) // polling interval, the same for both systems
	}
}

// slowConverge is when converge logs what the agents still waited for see,
// to tell a lost join from a member stuck suspect or failed.
const slowConverge = 5 * time.Second

// logViews logs each host's member view and the agent's last warnings.
func (r *sideBySideRun) logViews(hosts []*Host) {
	for _, h := range hosts {
		out, _, err := r.sys.cli(h, r.sys.members...)
		var view []string
		ms, perr := parseMembers(out)
		for _, m := range ms {
			view = append(view, m.Name+":"+m.Status)
		}
		if err != nil || perr != nil {
			view = append(view, fmt.Sprint("(", err, perr, ")"))
		}
		r.t.Logf("%s %s converges slowly: %s sees %v\n%s", r.sys.name, r.tag, h.Name, view, r.procs[h].TailWithout(15, "level=DEBUG"))
	}
}

var procKB = regexp.MustCompile(`(?m)^(VmRSS|RssAnon|Pss):\s+(\d+) kB`)

// memory reads VmRSS, RssAnon and PSS of every agent and returns the
// medians, in kB.
func (r *sideBySideRun) memory() (rss, anon, pss float64, err error) {
	var rs, as, ps []float64
	for _, h := range r.hosts {
		pid := strconv.Itoa(r.procs[h].Pid())
		status, err1 := os.ReadFile(filepath.Join("/proc", pid, "status"))
		rollup, err2 := os.ReadFile(filepath.Join("/proc", pid, "smaps_rollup"))
		if err1 != nil || err2 != nil {
			return 0, 0, 0, fmt.Errorf("memory of %s: %v %v", h.Name, err1, err2)
		}
		kb := map[string]float64{}
		for _, m := range procKB.FindAllSubmatch(append(status, rollup...), -1) {
			v, _ := strconv.ParseFloat(string(m[2]), 64)
			kb[string(m[1])] = v
		}
		if len(kb) != 3 {
			return 0, 0, 0, fmt.Errorf("memory of %s: found %v, want VmRSS, RssAnon and Pss", h.Name, kb)
		}
		rs, as, ps = append(rs, kb["VmRSS"]), append(as, kb["RssAnon"]), append(ps, kb["Pss"])
	}
	return quantile(rs, 0.5), quantile(as, 0.5), quantile(ps, 0.5), nil
}

// membersCall times `members` on h1 three times and returns the median:
// the CLI's own cost (process start, connect, answer), which every poll
// above and the join call include.
func (r *sideBySideRun) membersCall() (time.Duration, error) {
	var ds []time.Duration
	for range 3 {
		_, d, err := r.sys.cli(r.hosts[0], r.sys.members...)
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	return quantileDur(ds, 0.5), nil
}

// joinCall starts an agent on hx with no join, waits for its API, and
// times one `join` CLI call from hx to h1.
func (r *sideBySideRun) joinCall() (time.Duration, error) {
	if err := r.start(r.hx, ""); err != nil {
		return 0, err
	}
	if err := r.waitAlive(r.hx, 1, 30*time.Second); err != nil {
		return 0, err
	}
	out, d, err := r.sys.cli(r.hx, r.sys.join(fmt.Sprintf("%s:%d", r.hosts[0].IP, GossipPort))...)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	// The call must really have joined: hx ends up seeing everyone.
	return d, r.waitAlive(r.hx, len(r.hosts)+1, 30*time.Second)
}
