//go:build linux

// Command runtimechurn measures shoal's HAProxy runtime path under churn:
// an haproxy in master-worker mode serves a steady load (a new connection
// per request) while long-lived connections stay open and the backend
// applies membership changes (leave, rejoin, weight, disable, address move,
// and health flips: critical, maintenance, passing again) the way the
// renderer does: validate, install, Apply with the renderer's hints,
// reconcile. An instance that is not passing leaves the file, as with the
// built-in template; a critical one is named in ApplyHints.Critical (shut
// at once), one in maintenance is not (it drains).
// It reports master reloads, failed requests, requests that reached a
// server the file had removed, surviving long-lived connections, and
// whether "show servers state" agreed with the file after every change.
// The file names a server state file, which every reload (-reload mode)
// writes first. Loopback only. See test/runtime-churn.sh.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
)

type options struct {
	changes, long, clients int
	stable, churners       int
	absent                 int
	pace                   time.Duration
	reload                 bool
	critical               bool
	seed                   uint64
	timeout                time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.changes, "changes", 100, "membership changes to apply")
	flag.IntVar(&o.long, "long", 50, "long-lived connections held open during the churn")
	flag.IntVar(&o.clients, "clients", 4, "load clients, each opening a new connection per request")
	flag.IntVar(&o.stable, "stable", 3, "servers that never change")
	flag.IntVar(&o.churners, "churners", 5, "servers that leave, rejoin, reweight, flip health (critical, maintenance, passing) and move")
	flag.IntVar(&o.absent, "absent", 2, "churners not in the file at the start: no long-lived connection reaches them, so their removals delete them")
	flag.DurationVar(&o.pace, "pace", 20*time.Millisecond, "pause between changes")
	flag.BoolVar(&o.critical, "critical", true, "flip health to critical too (its sessions are shut on purpose); false: maintenance only")
	flag.BoolVar(&o.reload, "reload", false, "reload haproxy for every change instead (the old way), for comparison")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the change sequence")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "runtimechurn:", err)
		os.Exit(1)
	}
}

// member is one server line of the file.
type member struct {
	name     string
	addrs    [2]string // two listeners greeting with the same name: an address move switches
	at       int
	weight   int
	disabled bool
	present  bool
	health   string // "passing", "critical" or "maintenance"
}

// listed reports whether the file has a server line for the member: it is
// present and passing (the built-in template leaves others out).
func (m *member) listed() bool { return m.present && m.health == "passing" }

// takesTraffic reports whether new connections may reach the member.
func (m *member) takesTraffic() bool { return m.listed() && !m.disabled && m.weight > 0 }

func config(port int, stateFile string, ms []*member) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 2000
    hard-stop-after 10m
    server-state-file %s
defaults
    mode tcp
    load-server-state-from-file global
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    default-server inter 1s fall 2 rise 1
listen svc_web
    bind 127.0.0.1:%d
    balance roundrobin
`, stateFile, port)
	for _, m := range ms {
		if !m.listed() {
			continue
		}
		fmt.Fprintf(&b, "    server %s %s weight %d check", m.name, m.addrs[m.at], m.weight)
		if m.disabled {
			b.WriteString(" disabled")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "churn")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var ms []*member
	for i := range o.stable + o.churners {
		name := fmt.Sprintf("s%d", i)
		m := &member{name: name, weight: 1, present: i < o.stable+o.churners-o.absent, health: "passing"}
		for j := range m.addrs {
			addr, stop, err := backendtest.ServeNamedTCP(name)
			if err != nil {
				return err
			}
			defer stop()
			m.addrs[j] = addr
		}
		ms = append(ms, m)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	path, stateFile := filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "server-state")
	if err := os.WriteFile(path, []byte(config(port, stateFile, ms)), 0o644); err != nil {
		return err
	}
	hx, err := startHAProxy(ctx, dir, path)
	if err != nil {
		return err
	}
	defer hx.stop()
	h, err := backends.NewHAProxy(backends.HAProxyConfig{MasterSocket: hx.socket, DrainTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	start, err := h.Status(ctx)
	if err != nil {
		return err
	}

	longConns, err := openLong(port, o.long)
	if err != nil {
		return err
	}
	c := &churn{o: o, h: h, hx: hx, path: path, stateFile: stateFile, port: port, ms: ms, rng: rand.New(rand.NewPCG(o.seed, 0)), shut: map[string]bool{}}
	c.publish()
	load := startLoad(port, o.clients, &c.epoch, &c.serving)
	err = c.changes(ctx)
	loadRes := load.stop()
	var alive, shutLost, otherLost int
	for _, lc := range longConns {
		switch {
		case lc.Echo(5*time.Second) == nil:
			alive++
		case c.shut[lc.server]:
			shutLost++ // its server turned critical while it was on it
		default:
			otherLost++
		}
		lc.Close()
	}
	if err != nil {
		return err
	}
	end, err := h.Status(ctx)
	if err != nil {
		return err
	}
	c.report(start, end, loadRes, alive, shutLost, otherLost)
	return nil
}

// churn applies the changes and keeps what the load clients compare with.
type churn struct {
	o         options
	h         *backends.HAProxy
	hx        *haproxyProc
	path      string
	stateFile string
	port      int
	ms        []*member
	rng       *rand.Rand
	// shut names the servers a critical flip removed while they were in
	// the file: their sessions are shut on purpose.
	shut map[string]bool

	// epoch grows before and after each change; serving holds the names
	// that take traffic between changes.
	epoch   atomic.Uint64
	serving atomic.Pointer[map[string]bool]

	applied, reloads, agreed int
	leavingSeen              int
	// health flips: how many, and how many left the running servers as
	// they should right after the change (critical: deleted or in
	// maintenance; maintenance: draining, deleted or in maintenance).
	critical, criticalShut int
	// stateChecked counts state files read after a reload, stateAgreed
	// those that listed only servers of the file, at its address and
	// weight.
	stateChecked, stateAgreed int
	stateDiffs                []string
	maint, maintDrained       int
	disagreements             []string
	applyTimes, checkTimes    []time.Duration
}

func (c *churn) publish() {
	set := map[string]bool{}
	for _, m := range c.ms {
		if m.takesTraffic() {
			set[m.name] = true
		}
	}
	c.serving.Store(&set)
}

// mutate changes one churner: it leaves, rejoins, changes weight, is
// disabled or enabled, moves to its other address, or flips health. It
// returns what it did, the member, and the hints the renderer would give.
func (c *churn) mutate() (string, *member, backends.ApplyHints) {
	m := c.ms[c.o.stable+c.rng.IntN(c.o.churners)]
	var hints backends.ApplyHints
	op := c.rng.IntN(7)
	switch {
	case !m.present:
		m.present = true
		return "rejoin " + m.name, m, hints
	case m.health != "passing":
		m.health = "passing"
		return "passing " + m.name, m, hints
	case op == 5 && c.o.critical:
		m.health = "critical"
		hints.Critical = []netip.AddrPort{netip.MustParseAddrPort(m.addrs[m.at])}
		return "critical " + m.name, m, hints
	case op == 5 || op == 6:
		m.health = "maintenance"
		return "maintenance " + m.name, m, hints
	}
	return c.mutateMember(m, op), m, hints
}

func (c *churn) mutateMember(m *member, op int) string {
	switch {
	case op == 0 || op == 4:
		m.present = false
		return "leave " + m.name
	case op == 1:
		m.weight = 1 + (m.weight+c.rng.IntN(9))%10
		return fmt.Sprintf("weight %s %d", m.name, m.weight)
	case op == 2:
		m.disabled = !m.disabled
		return fmt.Sprintf("disabled %s %t", m.name, m.disabled)
	default:
		m.at = 1 - m.at
		return "move " + m.name
	}
}

func (c *churn) changes(ctx context.Context) error {
	for i := range c.o.changes {
		what, m, hints := c.mutate()
		content := []byte(config(c.port, c.stateFile, c.ms))
		running, err := os.ReadFile(c.path)
		if err != nil {
			return err
		}
		if err := c.install(ctx, content); err != nil {
			return fmt.Errorf("change %d (%s): %w", i+1, what, err)
		}
		c.epoch.Add(1)
		t0 := time.Now()
		applied := false
		if !c.o.reload {
			applied, err = c.h.Apply(ctx, running, content, hints)
			if !applied {
				fmt.Printf("change %d (%s): reload instead: %v\n", i+1, what, err)
			}
		}
		if !applied {
			if err := c.h.Reload(ctx); err != nil {
				return fmt.Errorf("change %d (%s): reload: %w", i+1, what, err)
			}
			c.reloads++
			if err := c.checkStateFile(); err != nil {
				return fmt.Errorf("change %d (%s): %w", i+1, what, err)
			}
		}
		c.applyTimes = append(c.applyTimes, time.Since(t0))
		if applied {
			c.applied++
		}
		c.publish()
		c.epoch.Add(1)
		if err := c.checkHealthFlip(m, hints); err != nil {
			return err
		}
		if err := c.check(ctx, content, what, i+1); err != nil {
			return err
		}
		time.Sleep(c.o.pace) // pacing the churn, not synchronisation
	}
	return nil
}

// install validates the candidate with haproxy -c and renames it into
// place, as the renderer does.
func (c *churn) install(ctx context.Context, content []byte) error {
	tmp := c.path + ".new"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return err
	}
	if err := c.h.Validate(ctx, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// check compares "show servers state" with the file, then lets the backend
// reconcile (finish drains) as the renderer's schedule would.
func (c *churn) check(ctx context.Context, content []byte, what string, n int) error {
	t0 := time.Now()
	rows, err := c.hx.serversState()
	if err != nil {
		return err
	}
	c.checkTimes = append(c.checkTimes, time.Since(t0))
	var diffs []string
	for _, m := range c.ms {
		row, ok := rows[m.name]
		delete(rows, m.name)
		if !m.listed() {
			if ok {
				rows[m.name] = row // leaving: judged below
			}
			continue
		}
		want := fmt.Sprintf("%s w%d maint=%t drain=false", m.addrs[m.at], m.weight, m.disabled)
		if got := row.String(); !ok || got != want {
			diffs = append(diffs, fmt.Sprintf("%s: running %q, file %q", m.name, got, want))
		}
	}
	for name, row := range rows {
		if !row.drain() && !row.maint() {
			diffs = append(diffs, name+" not in the file, takes traffic")
		}
		c.leavingSeen++
	}
	if len(diffs) == 0 {
		c.agreed++
	} else {
		c.disagreements = append(c.disagreements, fmt.Sprintf("change %d (%s): %s", n, what, strings.Join(diffs, "; ")))
	}
	if !c.o.reload {
		if drift, err := c.h.Reconcile(ctx, content); err != nil || drift != "" {
			return fmt.Errorf("reconcile after change %d: drift %q, %v", n, drift, err)
		}
	}
	return nil
}

// checkHealthFlip counts whether a member that just turned critical or
// went into maintenance left the running servers the way it should: a
// critical one is deleted or in maintenance at once, one in maintenance
// drains (or is deleted when it had no sessions). After a reload the new
// worker simply lacks it.
func (c *churn) checkHealthFlip(m *member, hints backends.ApplyHints) error {
	if m.health == "passing" || !m.present {
		return nil
	}
	rows, err := c.hx.serversState()
	if err != nil {
		return err
	}
	row, ok := rows[m.name]
	gone := !ok || row.maint()
	if len(hints.Critical) > 0 {
		c.critical++
		c.shut[m.name] = true
		if gone {
			c.criticalShut++
		}
		return nil
	}
	c.maint++
	if gone || row.drain() {
		c.maintDrained++
	}
	return nil
}

// checkStateFile compares the server state file the reload just loaded
// with the file: every line must be a listed server at its address, with
// its weight.
func (c *churn) checkStateFile() error {
	content, err := os.ReadFile(c.stateFile)
	if err != nil {
		return fmt.Errorf("server state file: %w", err)
	}
	c.stateChecked++
	var diffs []string
	var col map[string]int
	for _, line := range strings.Split(string(content), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "#":
			col = map[string]int{}
			for i, name := range f[1:] {
				col[name] = i
			}
		case len(f) > 5 && col != nil:
			name := f[col["srv_name"]]
			i := slices.IndexFunc(c.ms, func(m *member) bool { return m.name == name })
			got := net.JoinHostPort(f[col["srv_addr"]], f[col["srv_port"]]) + " w" + f[col["srv_uweight"]]
			if i < 0 || !c.ms[i].listed() || got != fmt.Sprintf("%s w%d", c.ms[i].addrs[c.ms[i].at], c.ms[i].weight) {
				diffs = append(diffs, fmt.Sprintf("%s: %s", name, got))
			}
		}
	}
	if len(diffs) == 0 {
		c.stateAgreed++
	} else {
		c.stateDiffs = append(c.stateDiffs, strings.Join(diffs, "; "))
	}
	return nil
}

func (c *churn) report(start, end backends.HAProxyStatus, load loadResult, alive, shutLost, otherLost int) {
	mode := "runtime API"
	if c.o.reload {
		mode = "reload per change"
	}
	rs := c.h.RuntimeStats()
	fmt.Printf("mode: %s; %d changes to %d stable + %d churning servers, seed %d\n", mode, c.o.changes, c.o.stable, c.o.churners, c.o.seed)
	fmt.Printf("applied at runtime: %d; reloads by the backend: %d; fallbacks: %d %v\n", c.applied, c.reloads, rs.Fallbacks, rs.FallbackReasons)
	fmt.Printf("master reloads (show proc): %d; workers at the end: %d (start: %v, end: %v)\n",
		end.Reloads-start.Reloads, len(end.Workers), start.WorkerPIDs(), end.WorkerPIDs())
	fmt.Printf("requests: %d ok, %d failed; reached a server the file had removed, disabled or weighted 0: %d\n", load.ok, load.failed, load.stray)
	fmt.Printf("long-lived connections surviving: %d/%d; shut because their server turned critical: %d; lost otherwise: %d\n", alive, c.o.long, shutLost, otherLost)
	fmt.Printf("health flips: %d critical (shut at once: %d), %d maintenance (draining or gone at once: %d)\n", c.critical, c.criticalShut, c.maint, c.maintDrained)
	fmt.Printf("server state file: written before %d reloads, skipped %d %s; agreed with the file after %d/%d reloads\n",
		rs.StateFileWrites, rs.StateFileSkips, rs.LastStateFileError, c.stateAgreed, c.stateChecked)
	for _, d := range c.stateDiffs {
		fmt.Println("  state file disagreement:", d)
	}
	fmt.Printf("file vs show servers state: agreed after %d/%d changes; leaving (draining) servers seen: %d\n", c.agreed, c.o.changes, c.leavingSeen)
	for _, d := range c.disagreements {
		fmt.Println("  disagreement:", d)
	}
	fmt.Printf("apply (or reload) time: median %s, p90 %s, max %s; runtime commands: %d, servers added %d, deleted %d\n",
		pct(c.applyTimes, 50), pct(c.applyTimes, 90), pct(c.applyTimes, 100), rs.Commands, rs.ServersAdded, rs.ServersRemoved)
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p)/100)
	return s[i].Round(10 * time.Microsecond)
}

// stateRow is one server of "show servers state".
type stateRow struct {
	addr          string
	weight, admin int
}

func (r stateRow) maint() bool { return r.admin&0x01 != 0 }
func (r stateRow) drain() bool { return r.admin&0x08 != 0 }
func (r stateRow) String() string {
	return fmt.Sprintf("%s w%d maint=%t drain=%t", r.addr, r.weight, r.maint(), r.drain())
}

// haproxyProc is the haproxy master the benchmark started.
type haproxyProc struct {
	cmd    *exec.Cmd
	socket string
}

func startHAProxy(ctx context.Context, dir, path string) (*haproxyProc, error) {
	socket := filepath.Join(dir, "master.sock")
	cmd := exec.Command("haproxy", "-W", "-S", socket, "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	p := &haproxyProc{cmd: cmd, socket: socket}
	for {
		reply, err := cli(socket, "show proc")
		if err == nil && strings.Contains(reply, "worker") {
			return p, nil
		}
		if ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("haproxy not up: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling for start-up
	}
}

func (p *haproxyProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // workers of old configurations
	<-done
}

func (p *haproxyProc) serversState() (map[string]stateRow, error) {
	reply, err := cli(p.socket, "@1 show servers state svc_web")
	if err != nil {
		return nil, err
	}
	rows := map[string]stateRow{}
	var col map[string]int
	for _, line := range strings.Split(reply, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "#":
			col = map[string]int{}
			for i, name := range f[1:] {
				col[name] = i
			}
		case len(f) > 5 && col != nil:
			atoi := func(name string) int { n, _ := strconv.Atoi(f[col[name]]); return n }
			rows[f[col["srv_name"]]] = stateRow{
				addr:   net.JoinHostPort(f[col["srv_addr"]], f[col["srv_port"]]),
				weight: atoi("srv_uweight"), admin: atoi("srv_admin_state"),
			}
		}
	}
	if col == nil {
		return nil, fmt.Errorf("show servers state: %q", reply)
	}
	return rows, nil
}

func cli(socket, command string) (string, error) {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", err
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// longConn is a connection through haproxy held open for the whole run.
type longConn struct {
	*backendtest.HeldConn
	server string // the name the server greeted with
}

func openLong(port, n int) ([]*longConn, error) {
	var out []*longConn
	for range n {
		c, server, err := backendtest.DialNamed(port, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("long-lived connection: %w", err)
		}
		out = append(out, &longConn{HeldConn: c, server: server})
	}
	return out, nil
}

type loadResult struct{ ok, failed, stray int }

type load struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    loadResult
}

// startLoad runs clients that each open a new connection per request and
// judge the answer against the servers that take traffic, when no change
// happened while the request ran.
func startLoad(port, clients int, epoch *atomic.Uint64, serving *atomic.Pointer[map[string]bool]) *load {
	l := &load{stopCh: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				// Judged only when no change ran during the request: the
				// epoch is even between changes and did not move.
				e1, set := epoch.Load(), *serving.Load()
				name, err := askName(port)
				stray := err == nil && e1%2 == 0 && epoch.Load() == e1 && !set[name]
				l.mu.Lock()
				switch {
				case err != nil:
					l.res.failed++
				case stray:
					l.res.stray++
				default:
					l.res.ok++
				}
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond) // pacing the load
			}
		}()
	}
	return l
}

func (l *load) stop() loadResult {
	close(l.stopCh)
	l.wg.Wait()
	return l.res
}

func askName(port int) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}
