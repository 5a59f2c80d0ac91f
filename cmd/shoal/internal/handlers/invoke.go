package handlers

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/procgroup"
)

// logTail is how much of a script's last output goes into a log line: the
// end is where scripts say why they failed.
const logTail = 2048

// result is how one run ended.
type result struct {
	// output is the first bytes of stdout and stderr together, in the
	// order the script wrote them, up to the limit invoke was given; size
	// is how many it wrote in all.
	output   []byte
	size     int
	tail     string // the end of the output, for logs
	exitCode int
	timedOut bool
	err      error
	took     time.Duration
}

// invoke runs command with the platform's shell (/bin/sh -c, or cmd /C on
// Windows, as Serf), in its own process group where there are groups, so
// a timeout kills the script and everything it started. stdout and stderr
// are one stream, as in Serf, of which it keeps the first keep bytes.
func invoke(ctx context.Context, command string, env []string, stdin []byte, timeout time.Duration, keep int) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell[0], shell[1], command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	out := &output{keep: keep}
	// The same writer for both: exec gives the script one pipe for
	// stdout and stderr, so their order is kept and Write is never called
	// concurrently.
	cmd.Stdout, cmd.Stderr = out, out
	procgroup.Set(cmd)
	start := time.Now()
	err := procgroup.Run(cmd)
	r := result{output: out.head.Bytes(), size: out.size, tail: out.tailString(), took: time.Since(start), err: err}
	if cmd.ProcessState != nil {
		r.exitCode = cmd.ProcessState.ExitCode()
	}
	r.timedOut = ctx.Err() == context.DeadlineExceeded
	return r
}

// output keeps the first keep bytes written, the last logTail bytes and
// the count, so a chatty script cannot grow the agent's memory.
type output struct {
	head bytes.Buffer
	keep int
	tail []byte
	size int
}

func (o *output) Write(p []byte) (int, error) {
	o.size += len(p)
	if room := o.keep - o.head.Len(); room > 0 {
		o.head.Write(p[:min(room, len(p))])
	}
	o.tail = append(o.tail, p[max(0, len(p)-logTail):]...)
	if over := len(o.tail) - logTail; over > 0 {
		o.tail = append(o.tail[:0], o.tail[over:]...)
	}
	return len(p), nil
}

func (o *output) tailString() string { return strings.TrimSpace(string(o.tail)) }
