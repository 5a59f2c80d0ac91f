//go:build !unix && !windows

package procgroup

import "os/exec"

// KillsGroup: here there is no process group to kill, so Kill stops the
// command's own process, and children it started run on. Set's wait delay
// still keeps them from holding the caller on its pipes.
const KillsGroup = false

// Isolate does nothing here.
func Isolate(*exec.Cmd) {}

// Kill kills a started cmd's own process.
func Kill(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func start(cmd *exec.Cmd) error { return cmd.Start() }

func release(*exec.Cmd) {}
