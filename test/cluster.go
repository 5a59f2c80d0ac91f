//go:build linux

package test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ports every agent uses inside its own namespace; namespaces never share
// ports, so all hosts use the same ones.
const (
	GossipPort  = 7946
	HTTPAddr    = "127.0.0.1:7373"
	DNSPort     = 8600
	BackendPort = 8080
	// LBIndex and the web hosts' first index place hosts in Subnet.
	LBIndex       = 2
	firstWebIndex = 11
	attackerIndex = 250
)

// DefaultGossip keeps the agent's shipped timings (memberlist's LAN
// profile) and only shortens the join retry. Under 20% loss on a loaded
// 2-core machine, FastGossip marked a healthy member failed about once in
// two minutes while these timings marked none (see scenario 4).
const DefaultGossip = `
retry_interval = "500ms"
`

// FastGossip shrinks the agent's timers so failures are detected in a few
// seconds, while staying loose enough for a loaded 2-core machine
// (suspicion_mult 6 leaves room for refutation). Heavy packet loss needs
// DefaultGossip.
const FastGossip = `
gossip {
  probe_interval     = "500ms"
  probe_timeout      = "400ms"
  gossip_interval    = "100ms"
  push_pull_interval = "5s"
  suspicion_mult     = 6
  reconnect_interval = "1s"
  reconnect_timeout  = "10m"
  reap_interval      = "1s"
  leave_timeout      = "2s"
}
` + DefaultGossip

// Options shape a cluster.
type Options struct {
	Web       int    // web hosts h1..hN, each running a backend and service web:8080
	LBs       int    // lb hosts (lb, lb2, ...) whose agents render HAProxy's config
	Attacker  bool   // a host with no agent, for floods
	Snapshot  bool   // agents keep a snapshot file
	Gossip    string // the agents' gossip timings; FastGossip when empty
	ExtraHCL  string // appended to every agent's config file
	LBHCL     string // appended to lb agents' config (templates); default LBTemplate
	NoHAProxy bool   // render on lbs, but do not start haproxy
	// WebHCL, when set, declares the web hosts' services in their config
	// file (appended; {{dir}} is the host's directory) instead of the
	// -service web:8080 flag: a `service` block with a check.
	WebHCL string
	// BackendArgs are added to the web hosts' `shoaltool serve`; {{dir}}
	// is the host's directory.
	BackendArgs []string
}

// Cluster is a running multi-host set-up.
type Cluster struct {
	T    testing.TB
	Bin  Binaries
	Net  *Net
	Dir  string
	Opts Options
	// Key is the cluster's gossip key: agents that render templates start
	// only on a keyed cluster, and every agent must share it.
	Key string

	Web      []*Agent
	LBs      []*Agent
	LB       *Agent // LBs[0]
	Attacker *Host
}

// Agent is one host with its shoal agent (and backend, for web hosts).
type Agent struct {
	*Host
	c        *Cluster
	Proc     *Proc
	Backend  *Proc
	HAProxy  *HAProxy // lb hosts only
	Args     []string // the agent's arguments, without -join/-retry-join
	JoinArgs []string
	EventLog string // the handler script appends one line per event here
}

// NewCluster builds the net and the hosts and starts everything: web
// agents (h2.. join h1), backends, the lb agent and haproxy. Everything is
// torn down by t.Cleanup, also when the test fails.
func NewCluster(t testing.TB, bin Binaries, opts Options) *Cluster {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{T: t, Bin: bin, Net: n, Dir: t.TempDir(), Opts: opts, Key: newGossipKey(t)}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		if err := n.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for i := 1; i <= opts.Web; i++ {
		c.Web = append(c.Web, c.newAgent(fmt.Sprintf("h%d", i), firstWebIndex+i-1))
	}
	for i := range opts.LBs {
		name := "lb"
		if i > 0 {
			name = fmt.Sprintf("lb%d", i+1)
		}
		c.LBs = append(c.LBs, c.newAgent(name, LBIndex+i))
	}
	if len(c.LBs) > 0 {
		c.LB = c.LBs[0]
	}
	if opts.Attacker {
		h, err := n.AddHost("attacker", attackerIndex, c.hostDir("attacker"))
		if err != nil {
			t.Fatal(err)
		}
		c.Attacker = h
	}
	for _, a := range c.Web {
		a.StartBackend()
	}
	for _, a := range c.All() {
		a.Start()
	}
	if !opts.NoHAProxy {
		for _, lb := range c.LBs {
			lb.StartHAProxy()
		}
	}
	return c
}

// newGossipKey makes a random AES-256 gossip key, as `shoal keygen` does.
func newGossipKey(t testing.TB) string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

func (c *Cluster) hostDir(name string) string {
	d := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		c.T.Fatal(err)
	}
	return d
}

// newAgent creates the host and writes its config and handler script.
func (c *Cluster) newAgent(name string, index int) *Agent {
	t := c.T
	h, err := c.Net.AddHost(name, index, c.hostDir(name))
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Host: h, c: c, EventLog: filepath.Join(h.Dir, "events.log")}
	script := filepath.Join(h.Dir, "handler.sh")
	// One line per event: type, user event name, ltime, payload (its first
	// 200 bytes, trailing newlines cut, inner ones turned into ';': a
	// member event has one line per member).
	body := fmt.Sprintf("#!/bin/sh\np=$(head -c 200)\nprintf '%%s %%s %%s %%s\\n' \"$SERF_EVENT\" \"$SERF_USER_EVENT\" \"$SERF_USER_LTIME\" \"$(printf '%%s' \"$p\" | tr '\\n' ';')\" >> %s\n", a.EventLog)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	hcl := c.Opts.Gossip
	if hcl == "" {
		hcl = FastGossip
	}
	hcl += fmt.Sprintf("encrypt = %q\n", c.Key)
	hcl += c.Opts.ExtraHCL
	isLB := strings.HasPrefix(name, "lb")
	if isLB {
		lbhcl := c.Opts.LBHCL
		if lbhcl == "" {
			lbhcl = LBTemplate
		}
		hcl += strings.NewReplacer("{{dir}}", h.Dir).Replace(lbhcl)
	} else {
		hcl += strings.NewReplacer("{{dir}}", h.Dir).Replace(c.Opts.WebHCL)
	}
	cfg := filepath.Join(h.Dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	gossip := fmt.Sprintf("%s:%d", h.IP, GossipPort)
	a.Args = []string{"agent", "-config-file", cfg, "-node", name,
		"-bind", gossip, "-advertise", gossip,
		"-http-addr", HTTPAddr, "-dns-addr", fmt.Sprintf("0.0.0.0:%d", DNSPort),
		"-event-handler", script, "-log-level", "debug"}
	if !isLB && c.Opts.WebHCL == "" {
		a.Args = append(a.Args, "-service", fmt.Sprintf("web:%d", BackendPort))
	}
	if c.Opts.Snapshot {
		a.Args = append(a.Args, "-snapshot", filepath.Join(h.Dir, "snapshot"))
	}
	if index != firstWebIndex {
		a.JoinArgs = []string{"-retry-join", fmt.Sprintf("%s.%d:%d", Subnet, firstWebIndex, GossipPort)}
	}
	return a
}

// All returns the agents: web hosts, then lb.
func (c *Cluster) All() []*Agent {
	return append(append([]*Agent(nil), c.Web...), c.LBs...)
}

// Names returns the node names of all agents, sorted.
func (c *Cluster) Names() []string {
	var names []string
	for _, a := range c.All() {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

// Start runs the agent with its join arguments and waits for its API.
func (a *Agent) Start() { a.StartWith(a.JoinArgs...) }

// StartWith runs the agent with extra arguments and waits for its API.
func (a *Agent) StartWith(extra ...string) {
	t := a.c.T
	t.Helper()
	args := append([]string{a.c.Bin.Shoal}, a.Args...)
	p, err := a.Host.Start("agent", nil, append(args, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	a.Proc = p
	err = poll(30*time.Second, func() error {
		if p.Exited() {
			return nil
		}
		_, err := a.Shoal(context.Background(), "info")
		return err
	})
	if p.Exited() {
		t.Fatalf("agent %s exited: %v\n%s", a.Name, p.Wait(0), p.Tail(30))
	}
	if err != nil {
		t.Fatalf("agent %s API: %v", a.Name, err)
	}
}

// Leave stops the agent gracefully (SIGINT: it leaves the cluster, then
// exits) and waits for it to exit. Its backend keeps running, as on a
// machine taken out of the pool.
func (a *Agent) Leave() error {
	if err := a.Proc.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := a.Proc.Wait(30 * time.Second); err != nil && !a.Proc.Exited() {
		return err
	}
	return nil
}

// Rejoin starts a stopped agent again, joining through every other agent
// that runs, so it finds the cluster whichever members are away (a web
// host's own join arguments name only h1).
func (a *Agent) Rejoin() {
	a.c.T.Helper()
	var join []string
	for _, o := range a.c.All() {
		if o != a && o.Proc != nil && !o.Proc.Exited() {
			join = append(join, "-retry-join", fmt.Sprintf("%s:%d", o.IP, GossipPort))
		}
	}
	a.StartWith(join...)
}

// StartBackend runs the HTTP backend answering with the host name.
func (a *Agent) StartBackend() {
	t := a.c.T
	args := []string{a.c.Bin.Tool, "serve", "-addr", fmt.Sprintf(":%d", BackendPort), "-name", a.Name}
	for _, arg := range a.c.Opts.BackendArgs {
		args = append(args, strings.ReplaceAll(arg, "{{dir}}", a.Dir))
	}
	p, err := a.Host.Start("backend", nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	a.Backend = p
}

// Shoal runs a client verb against this host's agent.
func (a *Agent) Shoal(ctx context.Context, args ...string) (string, error) {
	return a.Exec(ctx, []string{"SHOAL_HTTP_ADDR=" + HTTPAddr}, append([]string{a.c.Bin.Shoal}, args...)...)
}

// LBConfig is the path the lb agent renders HAProxy's config to.
func (a *Agent) LBConfig() string { return filepath.Join(a.Dir, "haproxy.cfg") }

// StartHAProxy waits for the lb agent's first rendered config, starts
// haproxy on it, then has the agent render and reload once (shoal render
// -once), as an operator would after starting haproxy: reloads the agent
// tried before haproxy ran failed and stay pending until the next render,
// and a settled agent makes reload counts exact.
func (a *Agent) StartHAProxy() {
	t := a.c.T
	t.Helper()
	cfg := a.LBConfig()
	WaitFor(t, 30*time.Second, func() error {
		if _, err := os.Stat(cfg); err != nil {
			return fmt.Errorf("lb has not rendered yet: %w", err)
		}
		return nil
	})
	hp, err := a.Host.StartHAProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.HAProxy = hp
	if out, err := a.Shoal(context.Background(), "render", "-once"); err != nil {
		t.Fatalf("%s: shoal render -once: %v\n%s", a.Name, err, out)
	}
	WaitFor(t, 30*time.Second, a.CheckSettled)
}

// dumpLogs prints the tail of every process log of a failed test, without
// debug lines.
func (c *Cluster) dumpLogs() {
	c.Net.mu.Lock()
	procs := append([]*Proc(nil), c.Net.procs...)
	c.Net.mu.Unlock()
	for _, p := range procs {
		c.T.Logf("--- %s (%s)\n%s", p.Name, p.Log, p.TailWithout(40, "level=DEBUG"))
	}
}

// LBTemplateWith is LBTemplate with extra lines in its template block,
// such as `no_runtime = true`.
func LBTemplateWith(extra string) string {
	i := strings.LastIndex(LBTemplate, "}")
	return LBTemplate[:i] + "  " + extra + "\n" + LBTemplate[i:]
}

// LBTemplate is the lb agent's template block: the built-in HAProxy
// template, reloaded through haproxy's master CLI, serving web on LBURL's
// port. {{dir}} is the lb's directory.
const LBTemplate = `
template {
  source        = "builtin:haproxy"
  destination   = "{{dir}}/haproxy.cfg"
  backend       = "haproxy"
  master_socket = "{{dir}}/haproxy-master.sock"
  vars          = { "listen.web" = "18080" }
  wait {
    min = "200ms"
    max = "1s"
  }
  min_backends = 1
}
`
