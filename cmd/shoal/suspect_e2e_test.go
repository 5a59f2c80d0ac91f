//go:build unix

package main_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A frozen agent (SIGSTOP: its sockets stay open but nothing answers) is
// suspect in `shoal members`, /v1/members and the metrics; thawed before
// memberlist's suspicion timeout, it is alive again everywhere.
func TestAgent_SuspectShowsInMembersAPIAndMetrics(t *testing.T) {
	dir := t.TempDir()
	// A long suspicion (20 * 400 ms with no confirmations expected in a
	// cluster of 3), so the thaw always comes first.
	slow := filepath.Join(dir, "slow.hcl")
	if err := os.WriteFile(slow, []byte("gossip {\n  suspicion_mult = 20\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "s1", nil, "-config-file", slow)
	startAgent(t, "s2", nil, "-config-file", slow, "-join", a.gossip)
	c := startAgent(t, "s3", nil, "-config-file", slow, "-join", a.gossip)
	a.waitStatus(map[string]string{"s1": "alive", "s2": "alive", "s3": "alive"})

	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			c.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	a.waitStatus(map[string]string{"s3": "suspect"})

	out := mustShoal(t, a, "members", "-status", "suspect")
	// Serf's layout: no header, name addr status tags.
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "s3 ") || !strings.Contains(lines[0], " suspect") {
		t.Errorf("shoal members -status suspect:\n%s\nwant one line: s3, suspect", out)
	}
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`shoal_members{status="suspect"} 1`, `shoal_members{status="alive"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	thaw()
	a.waitStatus(map[string]string{"s1": "alive", "s2": "alive", "s3": "alive"})
}
