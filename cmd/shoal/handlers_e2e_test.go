package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// dumpScript records each event's Serf/Shoal environment and stdin into
// $OUT_DIR, renaming into place so the test never reads a half-written
// file, and answers queries on stdout and stderr: the response is both.
const dumpScript = `#!/bin/sh
f="$OUT_DIR/$SERF_EVENT.$$"
cat > "$f.stdin.tmp"
env | grep -E '^(SERF|SHOAL)_' | sort > "$f.env.tmp"
mv "$f.env.tmp" "$f.env"
mv "$f.stdin.tmp" "$f.stdin"
if [ "$SERF_EVENT" = query ]; then printf 'load-of-%s' "$SERF_SELF_NAME"; printf ' (stderr)' >&2; fi
`

type dump struct{ env, stdin string }

// dumps returns what the handler recorded for event.
func dumps(dir, event string) []dump {
	envs, _ := filepath.Glob(filepath.Join(dir, event+".*.stdin"))
	var out []dump
	for _, p := range envs {
		in, _ := os.ReadFile(p)
		env, _ := os.ReadFile(strings.TrimSuffix(p, ".stdin") + ".env")
		out = append(out, dump{env: string(env), stdin: string(in)})
	}
	return out
}

// waitDump waits for a dump of event whose stdin is stdin and returns its env.
func waitDump(t *testing.T, dir, event, stdin string) []string {
	t.Helper()
	var env []string
	testutil.WaitFor(t, wait, func() error {
		ds := dumps(dir, event)
		for _, d := range ds {
			if d.stdin == stdin {
				env = strings.Split(strings.TrimSpace(d.env), "\n")
				return nil
			}
		}
		return fmt.Errorf("no %s handler run with stdin %q; got %+v", event, stdin, ds)
	})
	return env
}

// waitDumpLine waits for a dump of event whose stdin has line (with its
// newline) among its lines, as one line of a batch of member events, and
// returns its env and stdin.
func waitDumpLine(t *testing.T, dir, event, line string) ([]string, string) {
	t.Helper()
	var found dump
	testutil.WaitFor(t, wait, func() error {
		ds := dumps(dir, event)
		for _, d := range ds {
			if slices.Contains(strings.SplitAfter(d.stdin, "\n"), line) {
				found = d
				return nil
			}
		}
		return fmt.Errorf("no %s handler run with stdin line %q; got %+v", event, line, ds)
	})
	return strings.Split(strings.TrimSpace(found.env), "\n"), found.stdin
}

// serfEnv is the expected environment: each SERF_ variable and its SHOAL_ twin.
func serfEnv(kv ...string) []string {
	var out []string
	for _, v := range kv {
		out = append(out, "SERF_"+v, "SHOAL_"+v)
	}
	slices.Sort(out)
	return out
}

// TestHandlers_SerfCompatible checks that handlers get exactly the stdin
// and environment Serf gives for member-join, member-failed, a user event
// and a query (a payload gets a trailing newline), and that a query
// handler's stdout and stderr together are the response.
func TestHandlers_SerfCompatible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "dump.sh")
	if err := os.WriteFile(script, []byte(dumpScript), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "a", []string{"OUT_DIR=" + out}, "-tag", "role=lb", "-tag", "dc-name=eu",
		"-event-handler", "member-join,member-failed,user:deploy,query:load="+script)
	b := startAgent(t, "b", nil, "-tag", "role=db", "-tag", "v=2", "-join", a.gossip)

	bHost := strings.Split(b.gossip, ":")[0]
	self := []string{"SELF_NAME=a", "SELF_ROLE=lb", "TAG_DC_NAME=eu", "TAG_ROLE=lb"}

	// a's own join may share a batch with b's.
	env, _ := waitDumpLine(t, out, "member-join", fmt.Sprintf("b\t%s\tdb\trole=db,v=2\n", bHost))
	if want := serfEnv(append(self, "EVENT=member-join")...); !slices.Equal(env, want) {
		t.Errorf("member-join env:\ngot  %q\nwant %q", env, want)
	}

	mustShoal(t, a, "event", "deploy", "v42")
	env = waitDump(t, out, "user", "v42\n")
	ltime := ""
	for _, v := range env {
		if l, ok := strings.CutPrefix(v, "SERF_USER_LTIME="); ok {
			ltime = l
		}
	}
	if want := serfEnv(append(self, "EVENT=user", "USER_EVENT=deploy", "USER_LTIME="+ltime)...); ltime == "" || !slices.Equal(env, want) {
		t.Errorf("user env:\ngot  %q\nwant %q", env, want)
	}

	qout := mustShoal(t, b, "query", "-timeout", "5s", "load", "how-busy")
	if !strings.Contains(qout, "Response from 'a': load-of-a (stderr)") || !strings.Contains(qout, "Total Responses: 1") {
		t.Errorf("query: got %q, want a's handler stdout and stderr as its response", qout)
	}
	env = waitDump(t, out, "query", "how-busy\n")
	ltime = ""
	for _, v := range env {
		if l, ok := strings.CutPrefix(v, "SERF_QUERY_LTIME="); ok {
			ltime = l
		}
	}
	if want := serfEnv(append(self, "EVENT=query", "QUERY_NAME=load", "QUERY_LTIME="+ltime)...); ltime == "" || !slices.Equal(env, want) {
		t.Errorf("query env:\ngot  %q\nwant %q", env, want)
	}

	// b dies without leaving: a's handler sees member-failed.
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	env = waitDump(t, out, "member-failed", fmt.Sprintf("b\t%s\tdb\trole=db,v=2\n", bHost))
	if want := serfEnv(append(self, "EVENT=member-failed")...); !slices.Equal(env, want) {
		t.Errorf("member-failed env:\ngot  %q\nwant %q", env, want)
	}
}

// TestHandlers_MemberEventsBatched: an agent that joins a cluster of two
// learns of both members at once; with its own join that is one batch, as
// Serf's coalescing makes it: one member-join run, one stdin line per
// member. The quiescent period is stretched so the batch does not depend on
// the machine's speed.
func TestHandlers_MemberEventsBatched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "dump.sh")
	if err := os.WriteFile(script, []byte(dumpScript), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "batch.hcl")
	if err := os.WriteFile(conf, []byte("member_quiescent_period = \"5s\"\nmember_coalesce_period = \"60s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startAgent(t, "b", nil)
	c := startAgent(t, "c", nil, "-join", b.gossip)
	c.waitStatus(map[string]string{"b": "alive", "c": "alive"})
	startAgent(t, "a", []string{"OUT_DIR=" + out}, "-config-file", conf,
		"-event-handler", "member-join="+script, "-join", b.gossip)
	host := strings.Split(b.gossip, ":")[0]
	want := fmt.Sprintf("a\t%[1]s\t\t\nb\t%[1]s\t\t\nc\t%[1]s\t\t\n", host)
	testutil.WaitFor(t, wait, func() error {
		ds := dumps(out, "member-join")
		if len(ds) == 1 && ds[0].stdin == want {
			return nil
		}
		return fmt.Errorf("member-join runs: got %+v, want one with stdin %q", ds, want)
	})
}

// TestHandlers_TimeoutDoesNotBlock: a handler that hangs is killed at its
// timeout and never delays another handler of the same event.
func TestHandlers_TimeoutDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	done := filepath.Join(dir, "done")
	conf := filepath.Join(dir, "h.hcl")
	if err := os.WriteFile(conf, []byte(`handler_timeout = "3s"`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "a", nil, "-config-file", conf,
		"-event-handler", fmt.Sprintf("user:hang=sleep 300 & echo $! > %s; wait", pidFile),
		"-event-handler", fmt.Sprintf("user:hang=cat > %s", done))
	mustShoal(t, a, "event", "hang", "payload")
	testutil.WaitFor(t, wait, func() error {
		b, err := os.ReadFile(done)
		if err != nil || string(b) != "payload\n" {
			return fmt.Errorf("second handler has not run: %q %v", b, err)
		}
		return nil
	})
	// The second handler finished while the first still hung: it had
	// not timed out yet.
	if _, ok := a.findLog(func(r map[string]any) bool { return r["msg"] == "handler timed out and was killed" }); ok {
		t.Log("the hanging handler timed out before the other finished (loaded machine?)")
	}
	rec := a.waitLog("handler timed out and was killed")
	if !strings.Contains(fmt.Sprint(rec["handler"]), "sleep 300") {
		t.Errorf("timeout logged for %v, want the sleeping handler", rec["handler"])
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	testutil.WaitFor(t, wait, func() error {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err == nil && !strings.Contains(string(st), ") Z ") {
			return fmt.Errorf("the handler's child sleep (pid %s) is still running", pid)
		}
		return nil
	})
}

// TestHandlers_FailureLogged: a failing handler's exit status and the
// tail of its output reach the log.
func TestHandlers_FailureLogged(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil, "-event-handler", "user=echo first >&2; echo 'disk full' >&2; exit 7")
	mustShoal(t, a, "event", "x")
	rec := a.waitLog("handler failed")
	if rec["exit_status"] != float64(7) || !strings.Contains(fmt.Sprint(rec["output"]), "disk full") {
		t.Errorf("got %v, want exit_status 7 and output with 'disk full'", rec)
	}
}

// TestHandlers_ResponseOverLimitRefused: a query handler whose output is
// over the response limit sends no response, as in Serf, not a cut one,
// and the log names the handler, the size and the limit.
func TestHandlers_ResponseOverLimitRefused(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil,
		"-event-handler", "query:big=head -c 1500 /dev/zero | tr '\\0' x; echo '1 more line' >&2",
		"-event-handler", "query:small=printf fits; printf ' also-stderr' >&2")
	qout := mustShoal(t, a, "query", "-timeout", "3s", "big", "")
	if !strings.Contains(qout, "Total Responses: 0") {
		t.Errorf("query big: got %q, want no response", qout)
	}
	rec := a.waitLog("handler output over the query response limit, no response sent")
	if !strings.Contains(fmt.Sprint(rec["handler"]), "head -c 1500") || rec["size"] != float64(1512) || rec["limit"] != float64(1024) {
		t.Errorf("got %v, want the big handler, size 1512, limit 1024", rec)
	}
	qout = mustShoal(t, a, "query", "-timeout", "3s", "small", "")
	if !strings.Contains(qout, "Response from 'a': fits also-stderr\n") {
		t.Errorf("query small: got %q, want stdout then stderr", qout)
	}
}
