package cli_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/cli"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// mainRun is a cli.Main running in the background, its output as it comes.
type mainRun struct {
	stdout, stderr *testutil.SyncBuffer
	code           chan int
}

// start runs cli.Main(args) in a goroutine.
func start(args ...string) *mainRun {
	m := &mainRun{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, code: make(chan int, 1)}
	go func() { m.code <- cli.Main(args, m.stdout, m.stderr) }()
	return m
}

// wait returns Main's exit status, failing the test if it does not end.
func (m *mainRun) wait(t *testing.T, what string) int {
	t.Helper()
	select {
	case code := <-m.code:
		return code
	case <-time.After(waitLong):
		t.Fatalf("%s did not return in %s; stderr:\n%s", what, waitLong, m.stderr.String())
		return -1
	}
}

var runningLine = regexp.MustCompile(`msg="agent running".* http_addr=(127\.0\.0\.1:[1-9][0-9]*)`)

// TestAgentVerb_MonitorEventLeave runs `shoal agent` itself in-process,
// with an API token: monitor streams its logs and a user event, a call
// without the token is refused in one line, and `shoal leave` makes the
// agent leave and `shoal agent` return 0, which ends the monitor too.
func TestAgentVerb_MonitorEventLeave(t *testing.T) {
	const token = "s3cret"
	agentRun := start("agent", "-node", "gamma", "-bind", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-dns-addr", "",
		"-data-dir", t.TempDir(), "-encrypt", newKey(t), "-profile", "local", "-log-level", "debug", "-http-token", token)
	var addr string
	testutil.WaitFor(t, waitLong, func() error {
		select {
		case code := <-agentRun.code:
			t.Fatalf("shoal agent exited %d early; stderr:\n%s", code, agentRun.stderr.String())
		default:
		}
		m := runningLine.FindStringSubmatch(agentRun.stderr.String())
		if m == nil {
			return fmt.Errorf("no agent running line with http_addr in the agent's log")
		}
		addr = m[1]
		return nil
	})
	ga := &inprocAgent{addr: addr}
	oneErrorLine(t, []string{"info", "-http-addr", addr}, 1, "refused the request (403)", "-http-token")
	if out := ga.mustRun(t, "info", "-http-token", token); lineWith(out, "name:", "gamma") == "" {
		t.Errorf("shoal info -http-token: got\n%s\nwant name gamma", out)
	}

	mon := start("monitor", "-http-addr", addr, "-http-token", token, "-log-level", "debug")
	testutil.WaitFor(t, waitLong, func() error {
		return contains(mon.stdout.String(), "==> Monitoring the agent at level DEBUG (Ctrl-C to stop)\n")
	})
	ga.mustRun(t, "event", "-http-token", token, "deploy", "v2")
	testutil.WaitFor(t, waitLong, func() error {
		return contains(mon.stdout.String(), ` [EVENT] user: deploy (ltime `, `) "v2"`+"\n")
	})
	// A join nobody answers is logged by the agent's gossip layer.
	if code, _, _ := ga.run("join", "-http-token", token, closedAddr(t)); code != 1 {
		t.Errorf("shoal join to a closed port: exit %d, want 1", code)
	}
	logLine := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(DEBUG|INFO|WARN|ERROR)\] \S`)
	testutil.WaitFor(t, waitLong, func() error {
		if !logLine.MatchString(mon.stdout.String()) {
			return fmt.Errorf("shoal monitor printed no log line; stdout:\n%s", mon.stdout.String())
		}
		return nil
	})

	if out := ga.mustRun(t, "leave", "-http-token", token); out != "Graceful leave complete; the agent is exiting.\n" {
		t.Errorf("shoal leave: got %q", out)
	}
	if code := agentRun.wait(t, "shoal agent after shoal leave"); code != 0 {
		t.Errorf("shoal agent: exit %d after a leave, want 0; stderr:\n%s", code, agentRun.stderr.String())
	}
	if !strings.Contains(agentRun.stderr.String(), `msg="agent stopped"`) {
		t.Errorf("shoal agent's log has no agent stopped line:\n%s", agentRun.stderr.String())
	}
	// The agent ends the stream cleanly as it stops; monitor then exits 1
	// with one line saying so, as Serf's does, not a broken-stream error.
	code := mon.wait(t, "shoal monitor after the agent stopped")
	if errOut := mon.stderr.String(); code != 1 || len(lines(errOut)) != 1 || !strings.Contains(errOut, "the agent ended the stream") {
		t.Errorf("shoal monitor: exit %d, stderr %q; want 1 and one line saying the agent ended the stream", code, errOut)
	}
}
