//go:build linux

package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a long-running process inside a host namespace, in its own
// process group so that it and anything it spawned can be killed at once.
type Proc struct {
	Name string
	Log  string // file holding its stdout and stderr

	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
	once sync.Once
}

// Start runs args inside the host's namespace. The process is killed when
// the net closes; env is added to the inherited environment.
func (h *Host) Start(name string, env []string, args ...string) (*Proc, error) {
	logPath := filepath.Join(h.Dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: h.Name + "/" + name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.net.mu.Lock()
	h.net.procs = append(h.net.procs, p)
	h.net.mu.Unlock()
	return p, nil
}

// Pid is the process id (ip netns exec execs the command in place).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process only (not its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.Pid(), sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit.
func (p *Proc) Wait(timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.Name, timeout)
	}
}

// Kill SIGKILLs the whole process group and reaps the process. Idempotent.
func (p *Proc) Kill() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// Tail returns the last lines of the process log, for failure messages.
func (p *Proc) Tail(lines int) string {
	return p.TailWithout(lines, "")
}

// TailWithout is Tail without the lines that contain skip (all lines when
// skip is empty): a failed test's dump leaves out agents' debug chatter,
// which would otherwise push the suspicions and failures out of view.
func (p *Proc) TailWithout(lines int, skip string) string {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	var all []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if skip == "" || !strings.Contains(l, skip) {
			all = append(all, l)
		}
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Exec runs a short command inside the host's namespace and returns its
// stdout; stderr is folded into the error.
func (h *Host) Exec(ctx context.Context, env []string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			return stdout.String(), fmt.Errorf("%s on %s: %w: %s", strings.Join(args, " "), h.Name, err, strings.TrimSpace(stderr.String()))
		}
		return stdout.String(), fmt.Errorf("%s on %s: %w", strings.Join(args, " "), h.Name, err)
	}
	return stdout.String(), nil
}
