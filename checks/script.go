package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/shoal-dev/shoal/internal/procgroup"
	"github.com/shoal-dev/shoal/node"
)

// scriptProber runs Args without a shell, in its own process group, so a
// timeout kills the script and everything it started.
type scriptProber struct{ def Definition }

func (p scriptProber) probe(ctx context.Context) probe {
	timeout := p.def.EffectiveTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.def.Args[0], p.def.Args[1:]...)
	out := &boundedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	procgroup.Set(cmd)
	err := procgroup.Run(cmd)
	output := out.String()
	if ctx.Err() == context.DeadlineExceeded {
		note := fmt.Sprintf("timed out after %s", timeout)
		return probe{status: node.HealthCritical, note: note, output: joinOutput(output, note)}
	}
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil: // did not start: not found, not executable
		return probe{status: node.HealthCritical, note: err.Error(), output: joinOutput(output, err.Error())}
	}
	status := node.HealthCritical
	switch code {
	case 0:
		status = node.HealthPassing
	case 1:
		status = node.HealthWarning
	}
	note := firstLine(output)
	if note == "" {
		note = "exit status 0"
		if err != nil {
			note = err.Error() // "exit status 2", "signal: killed"
		}
	}
	return probe{status: status, note: note, output: output}
}

func joinOutput(output, msg string) string {
	if output == "" {
		return msg
	}
	return output + "\n" + msg
}
