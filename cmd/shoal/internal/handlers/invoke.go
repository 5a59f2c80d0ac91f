package handlers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/procgroup"
	"github.com/shoal-dev/shoal/node"
)

// Self is what a script learns about the local node.
type Self struct {
	Name string
	Tags map[string]string
}

var envUnsafe = regexp.MustCompile(`[^A-Z0-9_]`)

// Env returns the variables Serf sets for e, each also under a SHOAL_ name.
func Env(self Self, e node.Event) []string {
	vars := [][2]string{
		{"EVENT", e.EventType().String()},
		{"SELF_NAME", self.Name},
		{"SELF_ROLE", self.Tags["role"]},
	}
	keys := make([]string, 0, len(self.Tags))
	for k := range self.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vars = append(vars, [2]string{"TAG_" + envUnsafe.ReplaceAllString(strings.ToUpper(k), "_"), self.Tags[k]})
	}
	switch e := e.(type) {
	case *node.UserEvent:
		vars = append(vars, [2]string{"USER_EVENT", e.Name}, [2]string{"USER_LTIME", fmt.Sprint(e.LTime)})
	case *node.Query:
		vars = append(vars, [2]string{"QUERY_NAME", e.Name}, [2]string{"QUERY_LTIME", fmt.Sprint(e.LTime)})
	}
	out := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		out = append(out, "SERF_"+v[0]+"="+v[1], "SHOAL_"+v[0]+"="+v[1])
	}
	return out
}

// Stdin returns what a script reads: for member events one line per member,
// name TAB addr TAB role TAB k=v,k=v (tabs and newlines escaped as Serf
// does, tags sorted so the bytes are stable); for user events and queries
// the payload.
func Stdin(e node.Event) []byte {
	switch e := e.(type) {
	case *node.MemberEvent:
		var b bytes.Buffer
		for _, m := range e.Members {
			keys := make([]string, 0, len(m.Tags))
			for k := range m.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			pairs := make([]string, len(keys))
			for i, k := range keys {
				pairs[i] = k + "=" + m.Tags[k]
			}
			addr := ""
			if m.Addr != nil {
				addr = m.Addr.String()
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", clean(m.Name), addr, clean(m.Tags["role"]), clean(strings.Join(pairs, ",")))
		}
		return b.Bytes()
	case *node.UserEvent:
		return e.Payload
	case *node.Query:
		return e.Payload
	}
	return nil
}

func clean(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(s)
}

// result is how one run ended.
type result struct {
	stdout    []byte
	truncated bool
	stderr    string
	exitCode  int
	timedOut  bool
	err       error
	took      time.Duration
}

// invoke runs command under /bin/sh -c in its own process group, so a
// timeout kills the script and everything it started.
func invoke(ctx context.Context, command string, env []string, stdin []byte, timeout time.Duration, stdoutLimit int) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	out := &capped{limit: stdoutLimit}
	errTail := &tail{limit: 2048}
	cmd.Stdout, cmd.Stderr = out, errTail
	procgroup.Set(cmd)
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.buf.Bytes(), truncated: out.over, stderr: errTail.String(), took: time.Since(start), err: err}
	if cmd.ProcessState != nil {
		r.exitCode = cmd.ProcessState.ExitCode()
	}
	r.timedOut = ctx.Err() == context.DeadlineExceeded
	return r
}

// capped keeps the first limit bytes written and discards the rest, so a
// chatty script cannot grow the agent's memory.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	if c.buf.Len()+len(p) > c.limit {
		c.over = true
	}
	return len(p), nil
}

// tail keeps the last limit bytes written: the end of stderr is where
// scripts say why they failed.
type tail struct {
	buf   []byte
	limit int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.limit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.limit:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.buf)) }
