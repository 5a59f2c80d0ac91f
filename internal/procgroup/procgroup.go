// Package procgroup starts commands so that stopping one stops everything
// it started, where the platform allows: a handler or check script that
// backgrounds a child must not leave it running after a timeout. On Unix a
// command leads its own process group and the group is killed; on Windows
// a command started by Run runs in its own job object and the job is
// terminated. Elsewhere only the command's own process is killed, which
// KillsGroup reports.
package procgroup

import (
	"os/exec"
	"time"
)

// waitDelay bounds how long Wait waits for the output pipes to close after
// the command was killed, in case a grandchild escaped the kill and still
// holds them.
const waitDelay = 2 * time.Second

// Set prepares cmd, made by exec.CommandContext, so that the context's end
// kills it and its group (Isolate, Kill), and Wait returns at most
// waitDelay later even if an escaped grandchild holds the pipes. Call it
// before Run.
func Set(cmd *exec.Cmd) {
	Isolate(cmd)
	cmd.Cancel = func() error { return Kill(cmd) }
	cmd.WaitDelay = waitDelay
}

// Run starts cmd and waits for it, as cmd.Run does, but so that Kill
// reaches everything cmd starts: on Windows the command is started
// suspended and resumed only once it is in its own job object, so that no
// child it starts can escape the job. Use it instead of cmd.Run after Set.
func Run(cmd *exec.Cmd) error {
	if err := start(cmd); err != nil {
		return err
	}
	defer release(cmd)
	return cmd.Wait()
}
