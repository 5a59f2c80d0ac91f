package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/backends/internal/procfs"
)

// NginxConfig configures the nginx backend.
type NginxConfig struct {
	// Binary is the nginx executable, looked up in PATH when it has no
	// slash. Default "nginx".
	Binary string
	// Prefix is nginx's prefix path (-p), against which relative paths in
	// the configuration resolve. Empty means nginx's compiled-in prefix.
	Prefix string
	// PidFile is the file named by the configuration's pid directive, where
	// the running master writes its PID; relative paths resolve against
	// Prefix, as nginx resolves them. Required: Reload signals that PID.
	PidFile string
	// ErrorLog, optional, is the file named by the configuration's
	// error_log directive. When set, Reload reports a rejected
	// configuration as soon as nginx logs "[emerg]" there, with nginx's
	// message; without it a rejection shows only as the absence of new
	// workers, reported when Timeout runs out.
	ErrorLog string
	// Timeout bounds each validation and each reload, including the wait
	// for the reload's outcome. Default DefaultTimeout.
	Timeout time.Duration
}

// Nginx validates with "nginx -t" and reloads by signalling the master.
type Nginx struct {
	cfg NginxConfig
}

var _ Backend = (*Nginx)(nil)

// NewNginx returns an nginx backend, with defaults filled in.
func NewNginx(cfg NginxConfig) (*Nginx, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Nginx{cfg: cfg}, nil
}

func (c *NginxConfig) setDefaults() {
	if c.Binary == "" {
		c.Binary = "nginx"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Validate reports every invalid option at once. Empty options that have a
// default are valid.
func (c NginxConfig) Validate() error {
	var errs []error
	if c.PidFile == "" {
		errs = append(errs, errors.New("nginx: pid_file is required: reload signals the master whose PID it holds"))
	}
	if c.Prefix != "" && !filepath.IsAbs(c.Prefix) {
		errs = append(errs, fmt.Errorf("nginx: prefix: %q is not an absolute path", c.Prefix))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("nginx: timeout: %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Name returns "nginx".
func (n *Nginx) Name() string { return "nginx" }

// Validate runs "nginx -t -q -e stderr [-p prefix] -c path". -e stderr
// keeps nginx from opening its compiled-in error log before it has read the
// candidate, which fails for an unprivileged user on Debian's layout; -q
// leaves only warnings and errors in the output.
//
// The candidate is checked as nginx would load it, so shoal needs the
// rights of the nginx master (which it needs anyway to signal it): nginx
// opens the log files the candidate names, creates its temp directories,
// and opens the pid file, creating it empty if it is missing but never
// truncating or writing it, so a running master's PID survives the check.
// Relative include paths resolve against the candidate's directory, which
// is why the renderer writes the candidate next to the installed file.
func (n *Nginx) Validate(ctx context.Context, path string) error {
	argv := []string{n.cfg.Binary, "-t", "-q", "-e", "stderr"}
	if n.cfg.Prefix != "" {
		argv = append(argv, "-p", n.cfg.Prefix)
	}
	argv = append(argv, "-c", path)
	if _, err := run(ctx, n.cfg.Timeout, argv, nil); err != nil {
		return fmt.Errorf("nginx rejected %s: %w", path, err)
	}
	return nil
}

// Reload sends SIGHUP to the master named by the pid file and waits for
// the outcome.
//
// nginx's master answers SIGHUP by loading its configuration file again;
// only if that succeeds does it fork workers for it and ask the old ones to
// finish. So a child of the master that was not there before the signal is
// proof that the new configuration is live. A rejected configuration
// leaves the old workers serving and changes nothing visible except the
// "[emerg]" line nginx logs, which Reload watches for when ErrorLog is set.
// Signalling directly, rather than running "nginx -s reload", needs no
// configuration parse to find the PID, and the PID is needed anyway to
// watch the workers.
//
// A worker that crashes and is respawned at the same moment would also be
// a new child; nginx workers do not crash in normal operation, and the
// error log check still catches a rejected configuration.
func (n *Nginx) Reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()

	master, err := n.masterPID()
	if err != nil {
		return fmt.Errorf("reload nginx: %w", err)
	}
	before, err := procfs.Children(master)
	if err != nil {
		return fmt.Errorf("reload nginx: master %d: %w", master, err)
	}
	logOffset := n.errorLogSize()
	if err := signal(master, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload nginx: signal master %d: %w", master, err)
	}

	interval := 10 * time.Millisecond
	for {
		if !procfs.Alive(master) {
			return fmt.Errorf("reload nginx: master %d exited after SIGHUP%s", master, n.emergencies(logOffset, true))
		}
		now, err := procfs.Children(master)
		if err != nil {
			return fmt.Errorf("reload nginx: master %d: %w", master, err)
		}
		if slices.ContainsFunc(now, func(pid int) bool { return !slices.Contains(before, pid) }) {
			return nil
		}
		if emerg := n.emergencies(logOffset, false); emerg != "" {
			return fmt.Errorf("reload nginx: master %d rejected the configuration and kept workers %v%s", master, before, emerg)
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("reload nginx: master %d started no new workers after SIGHUP (workers %v), so the configuration was probably rejected; nginx's error log says why: %w",
				master, now, ctx.Err())
		case <-timer.C:
		}
		interval = min(2*interval, 200*time.Millisecond)
	}
}

// masterPID reads the pid file and checks that the process is running.
func (n *Nginx) masterPID() (int, error) {
	if err := procfs.Supported(); err != nil {
		return 0, fmt.Errorf("nginx reload watches the master's workers: %w", err)
	}
	path := n.resolve(n.cfg.PidFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q, not a PID", path, bytes.TrimSpace(data))
	}
	if !procfs.Alive(pid) {
		return 0, fmt.Errorf("pid file %s names process %d, which is not running", path, pid)
	}
	return pid, nil
}

// signal sends sig to pid. os.Process.Signal rather than syscall.Kill so
// that this builds everywhere; off Unix it fails (and masterPID already
// failed before).
func signal(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// resolve interprets a path from the configuration as nginx does: relative
// to the prefix.
func (n *Nginx) resolve(path string) string {
	if filepath.IsAbs(path) || n.cfg.Prefix == "" {
		return path
	}
	return filepath.Join(n.cfg.Prefix, path)
}

// errorLogSize returns the error log's current size, where Reload starts
// reading, or 0 when there is no error log to read.
func (n *Nginx) errorLogSize() int64 {
	if n.cfg.ErrorLog == "" {
		return 0
	}
	info, err := os.Stat(n.resolve(n.cfg.ErrorLog))
	if err != nil {
		return 0
	}
	return info.Size()
}

// emergencies returns the "[emerg]" lines nginx logged after offset,
// formatted for an error message, or "" when there are none. With
// allLines it returns every new line, to explain a master that died.
func (n *Nginx) emergencies(offset int64, allLines bool) string {
	if n.cfg.ErrorLog == "" {
		return ""
	}
	f, err := os.Open(n.resolve(n.cfg.ErrorLog))
	if err != nil {
		return ""
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() < offset {
		offset = 0 // the log was rotated since
	}
	appended, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, offset, 1<<40), outputLimit))
	if err != nil {
		return ""
	}
	var lines []string
	for line := range strings.Lines(string(appended)) {
		if allLines || strings.Contains(line, "[emerg]") {
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return tail(strings.Join(lines, "\n"))
}
