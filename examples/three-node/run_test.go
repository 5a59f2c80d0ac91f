// Package threenode holds the test that runs the three-node demo, so the
// example cannot rot.
package threenode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRunScript runs `run.sh --check`. As root with iproute2 it runs in a
// fresh network namespace of its own (only loopback), so its fixed ports
// never collide with anything else on the machine.
func TestRunScript(t *testing.T) {
	for _, tool := range []string{"haproxy", "dig", "curl", "python3", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the demo needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"bash", "./run.sh", "--check"}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			ns := fmt.Sprintf("shoalt-%d-demo", os.Getpid())
			if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
				t.Fatalf("ip netns add: %v: %s", err, out)
			}
			t.Cleanup(func() {
				if pids, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
					for _, p := range strings.Fields(string(pids)) {
						_ = exec.Command("kill", "-9", p).Run()
					}
				}
				_ = exec.Command("ip", "netns", "del", ns).Run()
			})
			if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
				t.Fatalf("lo up: %v: %s", err, out)
			}
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh --check: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
