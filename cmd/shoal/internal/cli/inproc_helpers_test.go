package cli_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/agent"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/cli"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// These tests run real agents in the test binary, on 127.0.0.1 with
// ephemeral ports, and drive them only through cli.Main, as a user's shell
// would: arguments in, output text and exit status out. They live in
// package cli_test so that nothing but Main is reachable.

// waitLong bounds every wait: generous, for -race on a loaded 2-core machine.
const waitLong = 30 * time.Second

// shoal runs cli.Main with args and returns its exit status and output.
func shoal(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = cli.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// inprocAgent is a running agent and the -http-addr flag that reaches it.
type inprocAgent struct {
	*agent.Agent
	addr   string // the API's ADDR:PORT
	cancel context.CancelFunc
	done   chan error
}

// at returns args with -http-addr pointing at the agent appended after
// the verb (and a subcommand, when given as the second element of verb).
func (a *inprocAgent) at(verb []string, args ...string) []string {
	out := append(append([]string{}, verb...), "-http-addr", a.addr)
	return append(out, args...)
}

// run runs one verb against the agent: run("members", "-detailed").
func (a *inprocAgent) run(verb string, args ...string) (int, string, string) {
	return shoal(a.at(strings.Fields(verb), args...)...)
}

// mustRun is run that fails the test unless the verb exits 0.
func (a *inprocAgent) mustRun(t *testing.T, verb string, args ...string) string {
	t.Helper()
	code, out, errOut := a.run(verb, args...)
	if code != 0 {
		t.Fatalf("shoal %s %q: exit %d, stdout %q, stderr %q; want 0", verb, args, code, out, errOut)
	}
	return out
}

// agentConfig is one agent on loopback: gossip and API on ephemeral ports,
// DNS off, encrypted gossip with key, state in a temporary data_dir, and
// gossip timings shrunk but generous enough for -race.
func agentConfig(t *testing.T, name, key string) config.Config {
	cfg := config.DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DNSAddr = ""
	cfg.DataDir = t.TempDir()
	cfg.EncryptKey = key
	cfg.Profile = "local"
	cfg.LogLevel = slog.LevelDebug
	cfg.MemberQuiescentPeriod, cfg.MemberCoalescePeriod = 0, 0
	cfg.UserQuiescentPeriod, cfg.UserCoalescePeriod = 0, 0
	cfg.Gossip = config.Gossip{
		EventPushRate:  cfg.Gossip.EventPushRate, // the default: events pushed as in production
		GossipInterval: 20 * time.Millisecond,
		ProbeInterval:  400 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond,
		SuspicionMult:    3,
		PushPullInterval: 2 * time.Second,
		LeaveTimeout:     2 * time.Second,
	}
	return cfg
}

// startAgent runs an agent until the test ends and waits until `shoal
// info` reaches it.
func startAgent(t *testing.T, cfg config.Config) *inprocAgent {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	logger, hub := logging.New(logs, "json", cfg.LogLevel)
	a, err := agent.New(cfg, logger, hub)
	if err != nil {
		t.Fatalf("agent.New(%s): %v", cfg.NodeName, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ia := &inprocAgent{Agent: a, addr: a.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { ia.done <- a.Run(ctx) }()
	t.Cleanup(func() { ia.stop(t) })
	testutil.WaitFor(t, waitLong, func() error {
		if code, _, errOut := ia.run("info"); code != 0 {
			return fmt.Errorf("shoal info at %s: exit %d: %s", ia.addr, code, errOut)
		}
		return nil
	})
	return ia
}

// stop ends the agent's Run without leaving; a second call is harmless.
func (a *inprocAgent) stop(t *testing.T) {
	t.Helper()
	a.cancel()
	select {
	case err := <-a.done:
		a.done <- err
	case <-time.After(waitLong):
		t.Errorf("%s: Run did not return after its context ended", a.Name())
	}
}

// newKey is a fresh gossip key.
func newKey(t *testing.T) string {
	t.Helper()
	key, err := config.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// startPair starts agents a and b sharing a key, and joins b to a with
// `shoal join`.
func startPair(t *testing.T) (a, b *inprocAgent, key string) {
	t.Helper()
	key = newKey(t)
	a = startAgent(t, agentConfig(t, "alpha", key))
	b = startAgent(t, agentConfig(t, "beta", key))
	out := b.mustRun(t, "join", a.GossipAddr())
	if want := "Successfully joined cluster by contacting 1 nodes.\n"; out != want {
		t.Fatalf("shoal join: stdout %q, want %q", out, want)
	}
	for _, x := range []*inprocAgent{a, b} {
		waitOutput(t, x, "members", []string{"-status", "alive"}, func(out string) error {
			if n := len(lines(out)); n != 2 {
				return fmt.Errorf("%d alive members, want 2", n)
			}
			return nil
		})
	}
	return a, b, key
}

// waitOutput runs a verb until it exits 0 and check accepts its stdout.
func waitOutput(t *testing.T, a *inprocAgent, verb string, args []string, check func(stdout string) error) string {
	t.Helper()
	var last string
	testutil.WaitFor(t, waitLong, func() error {
		code, out, errOut := a.run(verb, args...)
		if code != 0 {
			return fmt.Errorf("shoal %s %q: exit %d: %s", verb, args, code, errOut)
		}
		last = out
		if err := check(out); err != nil {
			return fmt.Errorf("shoal %s %q: %w; stdout:\n%s", verb, args, err, out)
		}
		return nil
	})
	return last
}

// lines splits output into its non-empty lines.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// lineWith is the first line of out whose fields start with fields, or "".
func lineWith(out string, fields ...string) string {
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return l
		}
	}
	return ""
}

// contains fails unless out has each of wants.
func contains(out string, wants ...string) error {
	for _, w := range wants {
		if !strings.Contains(out, w) {
			return fmt.Errorf("no %q", w)
		}
	}
	return nil
}

// oneErrorLine checks a failed verb: exit status want, nothing on stdout,
// and exactly one line on stderr that starts with "shoal VERB: " and holds
// each of wants.
func oneErrorLine(t *testing.T, args []string, want int, wants ...string) {
	t.Helper()
	code, out, errOut := shoal(args...)
	ls := lines(errOut)
	if code != want || out != "" || len(ls) != 1 || !strings.HasPrefix(ls[0], "shoal "+args[0]) {
		t.Errorf("shoal %q: exit %d, stdout %q, stderr %q; want %d, no stdout, one line", args, code, out, errOut, want)
		return
	}
	if err := contains(ls[0], wants...); err != nil {
		t.Errorf("shoal %q: stderr %q: %v", args, errOut, err)
	}
}

// closedAddr is a loopback ADDR:PORT that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
