package backends

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/procgroup"
)

const (
	// outputLimit is how much of a command's output run keeps: the end of
	// the output, where load balancers put the verdict.
	outputLimit = 64 << 10
	// errorTail is how much of that output goes into an error message.
	errorTail = 2 << 10
)

// run executes argv with env added to shoal's environment and returns its
// combined output. The command gets the earlier of ctx's deadline and
// timeout (no extra deadline when timeout is 0). It runs in its own process
// group, and a timeout kills the whole group: a check script that started
// children must not leave them running, nor keep run waiting on its pipes.
//
// A failed command's error names the command and carries the tail of its
// output; a timeout wraps context.DeadlineExceeded.
func run(ctx context.Context, timeout time.Duration, argv []string, env []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("empty command")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out := &tailBuffer{limit: outputLimit}
	cmd.Stdout = out
	cmd.Stderr = out
	procgroup.Set(cmd)

	start := time.Now()
	err := procgroup.Run(cmd)
	output := out.String()
	if err == nil {
		return output, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("killed after %s: %w", time.Since(start).Round(time.Millisecond), ctxErr)
	}
	return output, fmt.Errorf("%s: %w%s", commandLine(argv), err, tail(output))
}

// commandLine renders argv for an error message, quoting arguments that
// would otherwise read ambiguously.
func commandLine(argv []string) string {
	quoted := make([]string, len(argv))
	for i, arg := range argv {
		if arg == "" || strings.ContainsAny(arg, " \t\n\"'\\") {
			arg = fmt.Sprintf("%q", arg)
		}
		quoted[i] = arg
	}
	return strings.Join(quoted, " ")
}

// tail formats the end of a command's output for an error message, on its
// own lines after a colon, or nothing when there was no output.
func tail(output string) string {
	output = strings.TrimSpace(output)
	if output == "" {
		return ""
	}
	if len(output) > errorTail {
		output = output[len(output)-errorTail:]
		if i := strings.IndexByte(output, '\n'); i >= 0 {
			output = output[i+1:] // start at a whole line
		}
		output = "..." + output
	}
	return ":\n" + output
}

// tailBuffer is an io.Writer that keeps the last limit bytes written to it,
// so a chatty command cannot grow shoal's memory without bound. exec gives
// stdout and stderr the same writer from one goroutine when they are the
// same value, so it needs no lock.
type tailBuffer struct {
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }
