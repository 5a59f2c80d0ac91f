//go:build unix

package procgroup

import (
	"os/exec"
	"syscall"
)

// KillsGroup: on Unix, Kill reaches grandchildren too.
const KillsGroup = true

// Isolate makes cmd, once started, lead a new process group. Call it
// before Start.
func Isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// Kill SIGKILLs the process group of a started, isolated cmd: ESRCH once
// nothing of it is left.
func Kill(cmd *exec.Cmd) error {
	// The negative PID addresses the group Setpgid created.
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// start starts cmd: Setpgid already put it in its own group.
func start(cmd *exec.Cmd) error { return cmd.Start() }

// release has nothing to free on Unix.
func release(*exec.Cmd) {}
