package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// bin is the shoal binary built from this tree by TestMain.
var bin string

// e2eBinEnv hands a built binary to a test that runs this test binary
// again (in a network namespace), so it is not built twice.
const e2eBinEnv = "SHOAL_E2E_BIN"

func TestMain(m *testing.M) {
	if b := os.Getenv(e2eBinEnv); b != "" {
		bin = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "shoal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "shoal")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shoal:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wait is the deadline for anything a cluster must do; generous, because
// tests share a loaded 2-core machine and run with -race.
const wait = 30 * time.Second

// fastGossip shrinks memberlist's intervals so clusters converge and detect
// failures in about a second.
const fastGossip = `
profile    = "local"
log_format = "json"
log_level  = "debug"
gossip {
  probe_interval     = "400ms"
  probe_timeout      = "300ms"
  gossip_interval    = "50ms"
  push_pull_interval = "2s"
  suspicion_mult     = 4
  reconnect_interval = "1s"
  leave_timeout      = "3s"
}
`

type agentProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	http    string
	gossip  string
	dns     string // bound DNS address, "" when DNS is off
	done    chan struct{}
	err     error // exit error, valid after done
}

// startAgent runs `shoal agent` on loopback with ephemeral ports and waits
// for its "agent running" log line, which names the bound addresses.
func startAgent(t *testing.T, name string, env []string, args ...string) *agentProc {
	t.Helper()
	return startAgentIn(t, t.TempDir(), name, env, args...)
}

// agentArgs are the arguments every test agent runs with: loopback,
// ephemeral ports, the fast gossip timings (written into dir).
func agentArgs(t *testing.T, dir, name string) []string {
	t.Helper()
	fast := filepath.Join(dir, "fast.hcl")
	if err := os.WriteFile(fast, []byte(fastGossip), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"agent", "-node", name, "-bind", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-dns-addr", "127.0.0.1:0", "-config-file", fast}
}

// startAgentIn is startAgent with dir as the agent's working directory
// (where -dev keeps dev-data), so a restart can find what it left.
func startAgentIn(t *testing.T, dir, name string, env []string, args ...string) *agentProc {
	t.Helper()
	return startAgentWrapped(t, nil, dir, name, env, args...)
}

// startAgentVia is startAgent through wrap, a command that execs its
// arguments in the same process (so the PID is the agent's), for example
// a shell that lowers a resource limit first.
func startAgentVia(t *testing.T, wrap []string, name string, env []string, args ...string) *agentProc {
	t.Helper()
	return startAgentWrapped(t, wrap, t.TempDir(), name, env, args...)
}

func startAgentWrapped(t *testing.T, wrap []string, dir, name string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	full := append(agentArgs(t, dir, name), args...)
	argv := append(append(append([]string(nil), wrap...), bin), full...)
	a.cmd = exec.Command(argv[0], argv[1:]...)
	a.cmd.Env = append(os.Environ(), env...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.Dir = dir
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.err = a.cmd.Wait()
		logf.Close()
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			t.Logf("log of %s:\n%s", name, tailLines(string(b), 60))
		}
	})
	testutil.WaitFor(t, wait, func() error {
		select {
		case <-a.done:
			b, _ := os.ReadFile(a.logPath)
			t.Fatalf("agent %s exited early (%v):\n%s", name, a.err, b)
		default:
		}
		rec, ok := a.findLog(func(r map[string]any) bool { return r["msg"] == "agent running" })
		if !ok {
			return errors.New("no \"agent running\" line yet")
		}
		a.http, _ = rec["http_addr"].(string)
		a.gossip, _ = rec["gossip_addr"].(string)
		a.dns, _ = rec["dns_addr"].(string)
		return nil
	})
	return a
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// findLog returns the first JSON log record match accepts.
func (a *agentProc) findLog(match func(map[string]any) bool) (map[string]any, bool) {
	f, err := os.Open(a.logPath)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && match(rec) {
			return rec, true
		}
	}
	return nil, false
}

// waitLog waits for a log record whose msg is msg.
func (a *agentProc) waitLog(msg string) map[string]any {
	a.t.Helper()
	var rec map[string]any
	testutil.WaitFor(a.t, wait, func() error {
		var ok bool
		if rec, ok = a.findLog(func(r map[string]any) bool { return r["msg"] == msg }); !ok {
			return fmt.Errorf("%s has not logged %q", a.name, msg)
		}
		return nil
	})
	return rec
}

// waitExit waits for the agent to exit and returns its status.
func (a *agentProc) waitExit() int {
	a.t.Helper()
	select {
	case <-a.done:
	case <-time.After(wait):
		a.t.Fatalf("agent %s did not exit within %s", a.name, wait)
	}
	return a.cmd.ProcessState.ExitCode()
}

// gossipKey makes a gossip key with `shoal keygen`. Every agent of a
// cluster in which one renders templates runs with it ("-encrypt", key):
// an agent with templates refuses to start on unkeyed gossip.
func gossipKey(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(mustShoal(t, nil, "keygen"))
}

// agentMustFail runs `shoal agent` with the test agents' arguments plus
// args, which must make it exit with a failure, and returns its output.
func agentMustFail(t *testing.T, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(agentArgs(t, dir, "doomed"), args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("shoal agent %q still ran after %s, want it to refuse to start; stderr:\n%s", args, wait, errb.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("shoal agent %q: got %v, want a non-zero exit; stderr:\n%s", args, err, errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: exit.ExitCode()}
}

type result struct {
	stdout, stderr string
	code           int
}

// shoal runs a client verb against the agent a (nil: no -http-addr).
func shoal(t *testing.T, a *agentProc, args ...string) result {
	t.Helper()
	return shoalEnv(t, a, nil, args...)
}

func shoalEnv(t *testing.T, a *agentProc, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if a != nil {
		cmd.Env = append(cmd.Env, "SHOAL_HTTP_ADDR="+a.http)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running shoal %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// mustShoal runs a verb that must succeed and returns its stdout.
func mustShoal(t *testing.T, a *agentProc, args ...string) string {
	t.Helper()
	r := shoal(t, a, args...)
	if r.code != 0 {
		t.Fatalf("shoal %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// members returns a's view: name -> status.
func (a *agentProc) members() (map[string]string, error) {
	resp, err := http.Get("http://" + a.http + "/v1/members")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ms []api.Member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out, nil
}

// waitStatus waits until a sees every named member with its status.
func (a *agentProc) waitStatus(want map[string]string) {
	a.t.Helper()
	testutil.WaitFor(a.t, wait, func() error {
		got, err := a.members()
		if err != nil {
			return err
		}
		for n, s := range want {
			if got[n] != s {
				return fmt.Errorf("%s sees %v, want %v", a.name, got, want)
			}
		}
		return nil
	})
}
