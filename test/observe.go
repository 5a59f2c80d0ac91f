//go:build linux

package test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Member is what the harness reads from `shoal members -format json`.
type Member struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	Status string `json:"status"`
}

// Members asks this host's agent for its membership view.
func (a *Agent) Members() ([]Member, error) {
	out, err := a.Shoal(context.Background(), "members", "-format", "json")
	if err != nil {
		return nil, err
	}
	return parseMembers(out)
}

// parseMembers accepts a JSON array of members or an object wrapping one
// under "members"; keys match case-insensitively (encoding/json does that).
func parseMembers(out string) ([]Member, error) {
	var ms []Member
	if err := json.Unmarshal([]byte(out), &ms); err == nil {
		return ms, nil
	}
	var wrapped struct {
		Members []Member `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &wrapped); err != nil {
		return nil, fmt.Errorf("members json: %w: %q", err, out)
	}
	return wrapped.Members, nil
}

// Statuses maps member name to status as this agent sees it.
func (a *Agent) Statuses() (map[string]string, error) {
	ms, err := a.Members()
	if err != nil {
		return nil, err
	}
	st := make(map[string]string, len(ms))
	for _, m := range ms {
		st[m.Name] = m.Status
	}
	return st, nil
}

// CheckStatus returns nil when every agent in observers sees each of names
// with status want.
func CheckStatus(observers []*Agent, names []string, want string) error {
	for _, o := range observers {
		st, err := o.Statuses()
		if err != nil {
			return err
		}
		for _, n := range names {
			if st[n] != want {
				return fmt.Errorf("%s sees %s as %q, want %q (view %v)", o.Name, n, st[n], want, st)
			}
		}
	}
	return nil
}

// WaitStatus waits until every observer sees each name with status want
// and returns how long that took.
func (c *Cluster) WaitStatus(observers []*Agent, names []string, want string, timeout time.Duration) time.Duration {
	c.T.Helper()
	start := time.Now()
	WaitFor(c.T, timeout, func() error { return CheckStatus(observers, names, want) })
	return time.Since(start)
}

// WaitConverged waits until every agent sees every agent alive.
func (c *Cluster) WaitConverged(timeout time.Duration) time.Duration {
	c.T.Helper()
	return c.WaitStatus(c.All(), c.Names(), "alive", timeout)
}

// Except returns the agents other than the named ones.
func (c *Cluster) Except(names ...string) []*Agent {
	var out []*Agent
	for _, a := range c.All() {
		skip := false
		for _, n := range names {
			skip = skip || a.Name == n
		}
		if !skip {
			out = append(out, a)
		}
	}
	return out
}

// Events returns the lines the handler script appended: "type name ltime
// payload", one per event the agent ran the handler for.
func (a *Agent) Events() []string {
	data, err := os.ReadFile(a.EventLog)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// UserEvents returns the handler lines of user events named name.
func (a *Agent) UserEvents(name string) []string {
	var out []string
	for _, l := range a.Events() {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "user" && f[1] == name {
			out = append(out, l)
		}
	}
	return out
}

// Dig asks the agent's DNS server on this host for name/qtype and returns
// the answers' data, sorted.
func (a *Agent) Dig(name, qtype string) ([]string, error) {
	out, err := a.Exec(context.Background(), nil, "dig", "+short", "+time=2", "+tries=1",
		"-p", fmt.Sprint(DNSPort), "@127.0.0.1", name, qtype)
	if err != nil {
		return nil, err
	}
	var ans []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			ans = append(ans, l)
		}
	}
	sort.Strings(ans)
	return ans, nil
}

// LoadResult is shoaltool load's report.
type LoadResult struct {
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Errors   []string       `json:"errors"`
	Backends map[string]int `json:"backends"`
	// Kinds counts the failures by cause: timeout, reset, eof, refused,
	// "status NNN", other.
	Kinds map[string]int `json:"kinds"`
	// FailedStarts counts the failures by the Unix second their request
	// started.
	FailedStarts map[int64]int `json:"failed_starts"`
	// OKMillis is the answers' latency: p50, p90, p99 and max, in ms.
	OKMillis []float64 `json:"ok_ms"`
}

// Load runs `shoaltool load` on h against url with the given arguments
// (which must bound it: -n or -duration) and returns its report.
func (h *Host) Load(tool, url string, args ...string) (LoadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := h.Exec(ctx, nil, append([]string{tool, "load", "-url", url}, args...)...)
	if err != nil {
		return LoadResult{}, err
	}
	return parseLoad(out)
}

// StartLoad runs `shoaltool load` in the background; Stop it for the report.
func (h *Host) StartLoad(name, tool, url string, args ...string) (*BackgroundLoad, error) {
	p, err := h.startTool(name, tool, "load", url, args...)
	if err != nil {
		return nil, err
	}
	return &BackgroundLoad{Proc: p}, nil
}

// startTool runs `shoaltool VERB -url url -ready FILE args...` in the
// background and waits until it created FILE: its first answer, so it
// really runs before the test acts.
func (h *Host) startTool(name, tool, verb, url string, args ...string) (*Proc, error) {
	ready := filepath.Join(h.Dir, name+".ready")
	_ = os.Remove(ready)
	p, err := h.Start(name, nil, append([]string{tool, verb, "-url", url, "-ready", ready}, args...)...)
	if err != nil {
		return nil, err
	}
	err = poll(30*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("%s exited early:\n%s", verb, p.Tail(10))
		}
		_, err := os.Stat(ready)
		return err
	})
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%s on %s: %w", verb, h.Name, err)
	}
	return p, nil
}

// stopTool ends a background shoaltool with SIGTERM and returns the last
// line it printed: its report.
func stopTool(p *Proc) (string, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		return "", err
	}
	if err := p.Wait(30 * time.Second); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", p.Name, err, p.Tail(10))
	}
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return "", fmt.Errorf("%s report: %w", p.Name, err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1], nil
}

// BackgroundLoad is a running `shoaltool load`.
type BackgroundLoad struct{ Proc *Proc }

// Stop ends the load with SIGTERM and returns its report.
func (l *BackgroundLoad) Stop() (LoadResult, error) {
	line, err := stopTool(l.Proc)
	if err != nil {
		return LoadResult{}, err
	}
	return parseLoad(line)
}

// HeldConn is one connection of `shoaltool hold`'s report.
type HeldConn struct {
	Server   string `json:"server"`    // the backend its first answer came from
	Answers  int    `json:"answers"`   // requests it answered
	ClosedNs int64  `json:"closed_ns"` // when it was found closed (Unix ns); 0: open at the end
	Err      string `json:"err"`       // how it ended: eof, reset, timeout, "moved to NAME", ...
}

// Closed returns when the connection was found closed, zero if it was
// open at the end.
func (c HeldConn) Closed() time.Time {
	if c.ClosedNs == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.ClosedNs)
}

// BackgroundHold is a running `shoaltool hold`: long-lived keep-alive
// connections, each asking every second and watching for its close.
type BackgroundHold struct{ Proc *Proc }

// StartHold runs `shoaltool hold` on h against url with n connections and
// waits until every one answered once.
func (h *Host) StartHold(name, tool, url string, n int, args ...string) (*BackgroundHold, error) {
	p, err := h.startTool(name, tool, "hold", url, append([]string{"-n", strconv.Itoa(n)}, args...)...)
	if err != nil {
		return nil, err
	}
	return &BackgroundHold{Proc: p}, nil
}

// Stop ends the hold with SIGTERM and returns its connections, each having
// answered a last request or recorded when and how it closed.
func (b *BackgroundHold) Stop() ([]HeldConn, error) {
	line, err := stopTool(b.Proc)
	if err != nil {
		return nil, err
	}
	var r struct{ Conns []HeldConn }
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return nil, fmt.Errorf("hold report: %w: %q", err, line)
	}
	return r.Conns, nil
}

func parseLoad(out string) (LoadResult, error) {
	var r LoadResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("load report: %w: %q", err, out)
	}
	return r, nil
}

// LBURL is where haproxy on an lb host serves the web service (var
// listen.web in LBTemplate).
const LBURL = "http://127.0.0.1:18080/"

// Servers returns the server names in the lb's rendered HAProxy config.
func (a *Agent) Servers() ([]string, error) {
	lines, err := a.ServerLines()
	if err != nil {
		return nil, err
	}
	var names []string
	for name := range lines {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// FileServer is one server line of the lb's rendered HAProxy config.
type FileServer struct {
	Addr     string // host:port
	Weight   int    // 1 when the line has no weight
	Disabled bool
}

// ServerLines returns the server lines of the lb's rendered HAProxy
// config by server name.
func (a *Agent) ServerLines() (map[string]FileServer, error) {
	data, err := os.ReadFile(a.LBConfig())
	if err != nil {
		return nil, fmt.Errorf("lb config: %w", err)
	}
	out := map[string]FileServer{}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "server" {
			continue
		}
		s := FileServer{Addr: f[2], Weight: 1}
		for i, w := range f[3:] {
			switch {
			case w == "weight" && i+4 < len(f):
				s.Weight, _ = strconv.Atoi(f[i+4])
			case w == "disabled":
				s.Disabled = true
			}
		}
		out[f[1]] = s
	}
	return out, nil
}

// CheckServers returns nil when the lb's config lists exactly want.
func (a *Agent) CheckServers(want []string) error {
	got, err := a.Servers()
	if err != nil {
		return err
	}
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("%s's config has servers %v, want %v", a.Name, got, want)
	}
	return nil
}

// WebNames returns the names of the web hosts except the named ones.
func (c *Cluster) WebNames(except ...string) []string {
	var out []string
	for _, a := range c.Web {
		skip := false
		for _, e := range except {
			skip = skip || a.Name == e
		}
		if !skip {
			out = append(out, a.Name)
		}
	}
	return out
}

// Reloads returns the lb haproxy's reload counter. The master CLI refuses
// connections while the master re-executes for a reload, so it retries for
// a few seconds before giving up.
func (a *Agent) Reloads() (int, error) {
	if a.HAProxy == nil {
		return 0, fmt.Errorf("%s runs no haproxy", a.Name)
	}
	var st ProcStatus
	err := poll(10*time.Second, func() (err error) {
		st, err = a.HAProxy.Status()
		return err
	})
	return st.Reloads, err
}

// RenderStatus is the part of `shoal render -format json` the harness
// reads: one entry per template. Installs counts files installed, Applied
// those haproxy took through its Runtime API without a reload, Reloads the
// reloads that followed an install or a forced render.
type RenderStatus struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Hash     string `json:"hash"`
	Backends int    `json:"backends"`
	Installs int    `json:"installs"`
	Applied  int    `json:"applied"`
	Reloads  int    `json:"reloads"`
	// Runtime is what the agent did through haproxy's Runtime API.
	Runtime RuntimeCounters `json:"runtime"`
}

// RuntimeCounters is the part of a template's "runtime" status the harness
// reads: runtime commands, servers added and deleted, changes that fell
// back to a reload and why, and servers draining now.
type RuntimeCounters struct {
	Commands        int            `json:"commands"`
	ServersAdded    int            `json:"servers_added"`
	ServersRemoved  int            `json:"servers_removed"`
	Fallbacks       int            `json:"fallbacks"`
	FallbackReasons map[string]int `json:"fallback_reasons"`
	LastFallback    string         `json:"last_fallback"`
	DriftRepairs    int            `json:"drift_repairs"`
	LastDrift       string         `json:"last_drift"`
	Draining        int            `json:"draining"`
	Ghosts          int            `json:"ghosts"`
}

// RenderStatus asks this host's agent for its templates' status.
func (a *Agent) RenderStatus() ([]RenderStatus, error) {
	out, err := a.Shoal(context.Background(), "render", "-format", "json")
	if err != nil {
		return nil, err
	}
	var r struct{ Templates []RenderStatus }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("render status: %w: %q", err, out)
	}
	return r.Templates, nil
}

// Template returns the status of the lb agent's one template.
func (a *Agent) Template() (RenderStatus, error) {
	st, err := a.RenderStatus()
	if err != nil {
		return RenderStatus{}, err
	}
	if len(st) != 1 {
		return RenderStatus{}, fmt.Errorf("%s has %d templates, want 1", a.Name, len(st))
	}
	return st[0], nil
}

// WebProxy is the proxy of service web in the built-in HAProxy template.
const WebProxy = "svc_web"

// Routed returns the servers of WebProxy that the lb's running haproxy
// sends new connections to, read from `show servers state`, sorted.
func (a *Agent) Routed() ([]string, error) {
	if a.HAProxy == nil {
		return nil, fmt.Errorf("%s runs no haproxy", a.Name)
	}
	live, err := a.HAProxy.ServersState()
	if err != nil {
		return nil, err
	}
	return RoutableServers(live, WebProxy), nil
}

// CheckRouted returns nil when the lb's running haproxy routes web to
// exactly want.
func (a *Agent) CheckRouted(want []string) error {
	got, err := a.Routed()
	if err != nil {
		return err
	}
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("%s's haproxy routes %s to %v, want %v", a.Name, WebProxy, got, want)
	}
	return nil
}

// CheckServing returns nil when the lb's config file and its running
// haproxy (show servers state) both have exactly want, and the agent
// settled on that file: what the file says is what haproxy does. Only for
// lbs that run haproxy.
func (a *Agent) CheckServing(want []string) error {
	if err := a.CheckServers(want); err != nil {
		return err
	}
	if err := a.CheckRouted(want); err != nil {
		return err
	}
	return a.CheckSettled()
}

// CheckSettled returns nil when the lb agent's last render succeeded and
// its status names the file on disk. The agent records a render only after
// the reload that followed it, so a settled lb runs haproxy on that file
// and has no reload in flight or pending.
func (a *Agent) CheckSettled() error {
	st, err := a.RenderStatus()
	if err != nil {
		return err
	}
	if len(st) != 1 {
		return fmt.Errorf("%s has %d templates, want 1", a.Name, len(st))
	}
	data, err := os.ReadFile(a.LBConfig())
	if err != nil {
		return fmt.Errorf("lb config: %w", err)
	}
	sum := sha256.Sum256(data)
	if s := st[0]; !s.OK || s.Hash != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%s not settled: render ok=%v error=%q hash %.12s, file %.12x", a.Name, s.OK, s.Error, s.Hash, sum)
	}
	return nil
}

// WaitServers waits until the lb's config lists exactly want and the agent
// settled on it (haproxy reloaded onto it, or took it through its Runtime
// API), and, when the lb runs haproxy, until haproxy routes to exactly want.
func (a *Agent) WaitServers(timeout time.Duration, want []string) {
	a.c.T.Helper()
	WaitFor(a.c.T, timeout, func() error {
		if a.HAProxy != nil {
			return a.CheckServing(want)
		}
		if err := a.CheckServers(want); err != nil {
			return err
		}
		return a.CheckSettled()
	})
}

// ConfigHashes runs `shoal query config-hash` from a and returns, per
// responding node, the hash of each of its templates (name -> sha256).
// Nodes without templates answer with none. The answer's payload is the
// agent's JSON {"t":[{"n":NAME,"h":SHA256,"ok":BOOL,"e":ERROR}]}.
func (a *Agent) ConfigHashes() (map[string]map[string]string, error) {
	out, err := a.Shoal(context.Background(), "query", "-format", "json", "-timeout", "5s", "config-hash")
	if err != nil {
		return nil, err
	}
	return parseConfigHashes(out)
}

func parseConfigHashes(out string) (map[string]map[string]string, error) {
	hashes := map[string]map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var q struct{ Type, From, Payload string }
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			return nil, fmt.Errorf("query line %q: %w", l, err)
		}
		if q.Type != "response" {
			continue
		}
		var ch struct {
			T []struct {
				N, H, E string
				OK      bool
			}
		}
		if err := json.Unmarshal([]byte(q.Payload), &ch); err != nil {
			return nil, fmt.Errorf("config-hash answer of %s %q: %w", q.From, q.Payload, err)
		}
		m := map[string]string{}
		for _, t := range ch.T {
			if !t.OK {
				return nil, fmt.Errorf("%s: template %s not ok: %s", q.From, t.N, t.E)
			}
			m[t.N] = t.H
		}
		hashes[q.From] = m
	}
	return hashes, nil
}
