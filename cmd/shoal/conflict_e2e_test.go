package main_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A second agent started under a name the cluster already knows loses the
// vote and exits non-zero, naming the name and its owner; the owner keeps
// running.
func TestCluster_NameConflictLoserExits(t *testing.T) {
	t.Parallel()
	key := strings.TrimSpace(mustShoal(t, nil, "keygen"))
	a := startAgent(t, "a", nil, "-encrypt", key)
	owner := startAgent(t, "web", nil, "-encrypt", key, "-join", a.gossip)
	a.waitStatus(map[string]string{"a": "alive", "web": "alive"})

	dup := startAgent(t, "web", nil, "-encrypt", key)
	shoal(t, dup, "join", a.gossip) // may answer before or after the vote
	if code := dup.waitExit(); code == 0 {
		t.Fatal("the agent that lost the name conflict exited 0, want non-zero")
	}
	log, _ := os.ReadFile(dup.logPath)
	want := fmt.Sprintf(`node name \"web\" is in use by %s (1 of 1 members agree); pick another -node`, owner.gossip)
	if !strings.Contains(string(log), want) {
		t.Errorf("the loser's log does not say %q:\n%s", want, tailLines(string(log), 20))
	}
	select {
	case <-owner.done:
		t.Fatalf("the owner of the name exited too (%v)", owner.err)
	default:
	}
	a.waitStatus(map[string]string{"a": "alive", "web": "alive"})
}
