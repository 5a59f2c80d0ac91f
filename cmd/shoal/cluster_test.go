package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestCluster_Verbs starts three agents and round-trips every client verb
// against them.
func TestCluster_Verbs(t *testing.T) {
	t.Parallel()
	key := strings.TrimSpace(mustShoal(t, nil, "keygen"))
	a := startAgent(t, "a", nil, "-encrypt", key, "-tag", "role=web", "-service", "web:8080:v2,eu")
	b := startAgent(t, "b", nil, "-encrypt", key, "-tag", "role=db", "-join", a.gossip)
	c := startAgent(t, "c", nil, "-encrypt", key, "-tag", "role=web")

	checkJoinVerb(t, a, c)
	checkMembersVerb(t, a)
	checkEventInMonitor(t, a, b)
	checkQueryVerb(t, a)
	checkTagsVerb(t, a, b)
	checkInfoVerb(t, a)
	checkKeysVerb(t, a, b, key)
	checkForceLeaveVerb(t, a, c)
	checkLeaveVerb(t, a, b)
	checkSIGINTLeaves(t, a)
}

// checkJoinVerb checks shoal join: c joins a, and both see all three
// alive.
func checkJoinVerb(t *testing.T, a, c *agentProc) {
	t.Helper()
	out := mustShoal(t, c, "join", a.gossip)
	if !strings.Contains(out, "contacting 1 nodes") {
		t.Errorf("join: got %q", out)
	}
	a.waitStatus(map[string]string{"a": "alive", "b": "alive", "c": "alive"})
	c.waitStatus(map[string]string{"a": "alive", "b": "alive", "c": "alive"})
}

// checkMembersVerb checks shoal members: Serf's text layout, json,
// filters.
func checkMembersVerb(t *testing.T, a *agentProc) {
	t.Helper()
	out := mustShoal(t, a, "members")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("members: got %q, want 3 rows and no header, as serf members prints", out)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		name := string(rune('a' + i))
		if len(f) != 4 || f[0] != name || !strings.HasPrefix(f[1], "127.0.0.1:") || f[2] != "alive" || !strings.HasPrefix(f[3], "role=") {
			t.Errorf("members: row %d is %q, want %s 127.0.0.1:PORT alive role=...", i, l, name)
		}
	}
	if col := strings.Index(lines[0], "alive"); strings.Index(lines[1], "alive") != col || strings.Index(lines[2], "alive") != col {
		t.Errorf("members: the status column is not aligned in %q", out)
	}
	out = mustShoal(t, a, "members", "-detailed", "-name", "a")
	if !strings.Contains(out, "Protocol Version: ") || !strings.Contains(out, "Available Protocol Range: [") || !strings.Contains(out, "Services: web:8080:v2,eu") {
		t.Errorf("members -detailed: got %q, want protocol columns and services", out)
	}
	if out := mustShoal(t, a, "members", "-role", "w.b"); !strings.HasPrefix(out, "a ") || !strings.Contains(out, "\nc ") || strings.Count(out, "\n") != 2 {
		t.Errorf("members -role w.b: got %q, want a and c", out)
	}
	if out := mustShoal(t, a, "members", "-name", "b|c", "-role", "web"); !strings.HasPrefix(out, "c ") || strings.Count(out, "\n") != 1 {
		t.Errorf("members -name b|c -role web: got %q, want only c", out)
	}
	var ms []api.Member
	if err := json.Unmarshal([]byte(mustShoal(t, a, "members", "-format", "json", "-tag", "role=w.b")), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "c" {
		t.Errorf("members -tag role=w.b: got %+v, want a and c", ms)
	}
	if out := mustShoal(t, a, "members", "-status", "failed"); out != "\n" {
		t.Errorf("members -status failed: got %q, want an empty line, as serf members prints", out)
	}
}

// checkEventInMonitor checks shoal event and monitor: an event sent
// through a shows in b's monitor stream, and monitor exits 0 on SIGINT.
func checkEventInMonitor(t *testing.T, a, b *agentProc) {
	t.Helper()
	mon := exec.Command(bin, "monitor", "-http-addr", b.http, "-log-level", "debug")
	stdout, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Process.Kill(); _ = mon.Wait() })
	monLines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			monLines <- sc.Text()
		}
		close(monLines)
	}()
	waitLine(t, monLines, "==> Monitoring")
	out := mustShoal(t, a, "event", "-coalesce=false", "deploy", "v42")
	if !strings.Contains(out, "Event 'deploy' dispatched") {
		t.Errorf("event: got %q", out)
	}
	waitLine(t, monLines, `[EVENT] user: deploy`)
	if err := mon.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := mon.Wait(); err != nil {
		t.Errorf("monitor after SIGINT: %v, want exit 0", err)
	}
}

// checkQueryVerb checks shoal query: acks from all, -node narrows, json
// lines, -no-ack.
func checkQueryVerb(t *testing.T, a *agentProc) {
	t.Helper()
	out := mustShoal(t, a, "query", "-timeout", "2s", "ping")
	for _, n := range []string{"a", "b", "c"} {
		if !strings.Contains(out, "Ack from '"+n+"'") {
			t.Errorf("query: no ack from %s in %q", n, out)
		}
	}
	if !strings.Contains(out, "Total Acks: 3") {
		t.Errorf("query: got %q, want 3 acks", out)
	}
	out = mustShoal(t, a, "query", "-timeout", "2s", "-node", "b", "-format", "json", "ping")
	var acks []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ql api.QueryLine
		if err := json.Unmarshal([]byte(l), &ql); err != nil {
			t.Fatalf("query -format json: line %q: %v", l, err)
		}
		if ql.Type == "ack" {
			acks = append(acks, ql.From)
		}
	}
	if len(acks) != 1 || acks[0] != "b" {
		t.Errorf("query -node b: got acks %v, want [b]", acks)
	}
	out = mustShoal(t, a, "query", "-timeout", "1s", "-tag", "role=db", "-no-ack", "ping")
	if !strings.Contains(out, "Total Acks: 0") {
		t.Errorf("query -no-ack: got %q", out)
	}
}

// checkTagsVerb checks shoal tags: b sets one and deletes one, and a
// sees the change.
func checkTagsVerb(t *testing.T, a, b *agentProc) {
	t.Helper()
	mustShoal(t, b, "tags", "-set", "zone=eu-1", "-delete", "role")
	if out := mustShoal(t, b, "tags"); out != "zone=eu-1\n" {
		t.Errorf("tags: got %q, want zone=eu-1", out)
	}
	testutil.WaitFor(t, wait, func() error {
		var ms []api.Member
		if err := json.Unmarshal([]byte(mustShoal(t, a, "members", "-format", "json", "-tag", "zone=eu-1")), &ms); err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].Name != "b" {
			return fmt.Errorf("a sees members with zone=eu-1: %+v, want b", ms)
		}
		return nil
	})
}

// checkInfoVerb checks that shoal info shows a's name, gossip address,
// encryption and services.
func checkInfoVerb(t *testing.T, a *agentProc) {
	t.Helper()
	out := mustShoal(t, a, "info")
	for _, want := range []string{"name:", " a\n", "gossip_addr:", a.gossip, "gossip_encrypted:", "true", "web:8080:v2,eu"} {
		if !strings.Contains(out, want) {
			t.Errorf("info: %q lacks %q", out, want)
		}
	}
}

// checkKeysVerb checks shoal keys: list, install, use, remove, across
// the cluster; the primary key cannot be removed.
func checkKeysVerb(t *testing.T, a, b *agentProc, key string) {
	t.Helper()
	out := mustShoal(t, a, "keys", "-list")
	if !strings.Contains(out, key) || !strings.Contains(out, "3/3") {
		t.Errorf("keys -list: got %q, want %s on 3/3", out, key)
	}
	key2 := strings.TrimSpace(mustShoal(t, nil, "keygen"))
	mustShoal(t, a, "keys", "-install", key2)
	mustShoal(t, a, "keys", "-use", key2)
	mustShoal(t, a, "keys", "-remove", key)
	out = mustShoal(t, b, "keys", "-list")
	if strings.Contains(out, key) || !strings.Contains(out, key2) {
		t.Errorf("keys -list after rotation: got %q, want only %s", out, key2)
	}
	if r := shoal(t, a, "keys", "-remove", key2); r.code != 1 || r.stderr == "" {
		t.Errorf("removing the primary key: got exit %d stderr %q, want 1 and why", r.code, r.stderr)
	}
}

// checkForceLeaveVerb: on SIGTERM c exits without leaving, so a sees it
// fail; force-leave then marks it left, and -prune drops it.
func checkForceLeaveVerb(t *testing.T, a, c *agentProc) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.waitExit(); code != 0 {
		t.Errorf("agent after SIGTERM: exit %d, want 0", code)
	}
	a.waitStatus(map[string]string{"c": "failed"})
	mustShoal(t, a, "force-leave", "c")
	a.waitStatus(map[string]string{"c": "left"})
	mustShoal(t, a, "force-leave", "-prune", "c")
	testutil.WaitFor(t, wait, func() error {
		got, err := a.members()
		if err != nil {
			return err
		}
		if _, ok := got["c"]; ok {
			return fmt.Errorf("a still lists c after prune: %v", got)
		}
		return nil
	})
}

// checkLeaveVerb checks shoal leave: b leaves and exits 0; a sees it
// left.
func checkLeaveVerb(t *testing.T, a, b *agentProc) {
	t.Helper()
	out := mustShoal(t, b, "leave")
	if !strings.Contains(out, "leave complete") {
		t.Errorf("leave: got %q", out)
	}
	if code := b.waitExit(); code != 0 {
		t.Errorf("agent after leave: exit %d, want 0", code)
	}
	a.waitStatus(map[string]string{"b": "left"})
}

// checkSIGINTLeaves checks that on SIGINT a leaves gracefully, then
// exits 0.
func checkSIGINTLeaves(t *testing.T, a *agentProc) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := a.waitExit(); code != 0 {
		t.Errorf("agent after SIGINT: exit %d, want 0", code)
	}
	if _, ok := a.findLog(func(r map[string]any) bool { return r["msg"] == "leaving the cluster" }); !ok {
		t.Error("agent did not log leaving on SIGINT")
	}
}

// waitLine reads lines until one contains want.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	var seen []string
	testutil.WaitFor(t, wait, func() error {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return fmt.Errorf("stream ended; saw %q, want %q", seen, want)
				}
				if strings.Contains(l, want) {
					return nil
				}
				seen = append(seen, l)
			default:
				return fmt.Errorf("no line with %q yet; saw %d lines", want, len(seen))
			}
		}
	})
}
