package procfs

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestChildren_ListsAStartedChild(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	children, err := Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(children, cmd.Process.Pid) {
		t.Errorf("Children(self) = %v, want it to include %d", children, cmd.Process.Pid)
	}
	if !Alive(cmd.Process.Pid) {
		t.Errorf("Alive(%d) = false for a running child", cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Alive(cmd.Process.Pid) {
		t.Errorf("Alive(%d) = true after the child was reaped", cmd.Process.Pid)
	}
}
