package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HAProxyConfig configures the HAProxy backend.
type HAProxyConfig struct {
	// Binary is the haproxy executable, looked up in PATH when it has no
	// slash. Default "haproxy".
	Binary string
	// MasterSocket is the unix socket of HAProxy's master CLI: the path
	// given to -S when haproxy runs in master-worker mode (-W). Reload
	// sends "reload" there and then watches "show proc" until the master
	// reports the outcome. Required unless ReloadCommand is set.
	MasterSocket string
	// ReloadCommand, when set, replaces the master CLI: Reload runs this
	// argv (for example systemctl reload haproxy) and trusts its exit
	// status.
	ReloadCommand []string
	// Timeout bounds each validation and each reload, including the wait
	// for the reload's outcome. Default DefaultTimeout.
	Timeout time.Duration
	// NoReload makes a validate-only backend, for when no haproxy runs
	// (shoal agent -dev): MasterSocket and ReloadCommand are then not
	// required, and Reload returns ErrNoReload without doing anything.
	NoReload bool

	// StatsSocket is a stats socket of the worker ("stats socket <path>
	// level admin" in the global section) for the Runtime API. Without it
	// the runtime path goes through MasterSocket to the current worker;
	// with neither, every change reloads.
	StatsSocket string
	// NoRuntime turns the runtime path off: every change reloads.
	NoRuntime bool
	// DrainTimeout is how long a server removed from the file keeps its
	// sessions (drain: no new connections) before they are shut and it is
	// deleted. Default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// ReconcileInterval is how often the running servers are compared
	// with the installed file when nothing else happens. Default
	// DefaultReconcileInterval.
	ReconcileInterval time.Duration

	// Logger receives what the backend does on its own that a caller's
	// error cannot carry, such as a reload made without a fresh server
	// state file. Default slog.Default().
	Logger *slog.Logger
}

// ErrNoReload is returned by Reload of a backend configured not to reload.
var ErrNoReload = errors.New("this backend is configured not to reload")

// DefaultTimeout is how long a validation or a reload may take when the
// configuration does not say.
const DefaultTimeout = 30 * time.Second

// Defaults of the runtime path.
const (
	DefaultDrainTimeout      = 30 * time.Second
	DefaultReconcileInterval = 30 * time.Second
)

// HAProxy validates with "haproxy -c" and reloads through the master CLI.
// Changes to server lines alone go through the Runtime API instead (Apply),
// and Reconcile keeps the running servers equal to the installed file.
// Unlike the other adapters it holds state between calls: the servers
// still leaving and its counters.
type HAProxy struct {
	cfg HAProxyConfig

	// opMu makes Apply, Reconcile and Reload take turns, and guards
	// leaving.
	opMu    sync.Mutex
	leaving map[string]*leavingServer // by "proxy/server"
	// next is the configuration the next reload loads, as last shown to
	// Validate, Apply or Reconcile: it names the server state file and
	// says which servers' state to carry over.
	next *hapConfig
	rt   runtimeStats
	log  *slog.Logger
}

var _ RuntimeApplier = (*HAProxy)(nil)

var _ Backend = (*HAProxy)(nil)

// NewHAProxy returns an HAProxy backend, with defaults filled in.
func NewHAProxy(cfg HAProxyConfig) (*HAProxy, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &HAProxy{cfg: cfg, leaving: map[string]*leavingServer{}, log: log.With("backend", "haproxy")}, nil
}

func (c *HAProxyConfig) setDefaults() {
	if c.Binary == "" {
		c.Binary = "haproxy"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
}

// Validate reports every invalid option at once. Empty options that have a
// default are valid.
func (c HAProxyConfig) Validate() error {
	var errs []error
	if c.MasterSocket == "" && len(c.ReloadCommand) == 0 && !c.NoReload {
		errs = append(errs, errors.New("haproxy: master_socket or reload_command is required to reload haproxy"))
	}
	if c.MasterSocket != "" && len(c.ReloadCommand) > 0 {
		errs = append(errs, errors.New("haproxy: master_socket and reload_command are exclusive: say which one reloads haproxy"))
	}
	if len(c.ReloadCommand) > 0 && c.ReloadCommand[0] == "" {
		errs = append(errs, errors.New("haproxy: reload_command: the program name is empty"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("haproxy: timeout: %s is negative", c.Timeout))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("haproxy: drain_timeout: %s is negative", c.DrainTimeout))
	}
	if c.ReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("haproxy: reconcile_interval: %s is negative", c.ReconcileInterval))
	}
	return errors.Join(errs...)
}

// Name returns "haproxy".
func (h *HAProxy) Name() string { return "haproxy" }

// Validate runs "haproxy -c -f path". Not -q: HAProxy's -q silences the
// alerts too, and they are what the error must carry. Relative paths inside
// the configuration resolve against shoal's working directory, as they do
// for the haproxy that shoal's working directory started.
func (h *HAProxy) Validate(ctx context.Context, path string) error {
	if _, err := run(ctx, h.cfg.Timeout, []string{h.cfg.Binary, "-c", "-f", path}, nil); err != nil {
		return fmt.Errorf("haproxy rejected %s: %w", path, err)
	}
	h.noteCandidate(path)
	return nil
}

// reloadProcess makes haproxy load the installed configuration.
//
// With ReloadCommand it runs that command. Otherwise it asks the master
// over its CLI. HAProxy 2.6's master answers "reload" by re-executing
// itself, with no reply, so the outcome is read from "show proc" instead:
// the master's reload counter goes up once the re-executed master serves
// its CLI again; a "[failed: N]" count above zero then says the new
// configuration did not start (the master keeps the old workers, and the
// count returns to zero at the next good reload); otherwise a worker whose
// PID was not there before must be listed.
func (h *HAProxy) reloadProcess(ctx context.Context) error {
	if h.cfg.NoReload {
		return fmt.Errorf("reload haproxy: %w", ErrNoReload)
	}
	if len(h.cfg.ReloadCommand) > 0 {
		if _, err := run(ctx, h.cfg.Timeout, h.cfg.ReloadCommand, nil); err != nil {
			return fmt.Errorf("reload haproxy: %w", err)
		}
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	before, err := h.firstStatus(ctx)
	if err != nil {
		return fmt.Errorf("reload haproxy: %w", err)
	}
	// The master closes the connection when it re-executes, which may cut
	// the exchange short; the status below is the answer, not this reply.
	// Versions after 2.6 reply "Success=0" and their startup log to a
	// reload that failed, which saves waiting for the status.
	reply, err := h.masterCommand(ctx, "reload")
	if err != nil && !isCutShort(err) {
		return fmt.Errorf("reload haproxy: %w", err)
	}
	if strings.Contains(reply, "Success=0") {
		return fmt.Errorf("reload haproxy: the master could not start the new configuration%s", tail(reply))
	}

	after, err := h.awaitStatus(ctx, func(st HAProxyStatus) error {
		if st.Reloads <= before.Reloads {
			return fmt.Errorf("master has not reloaded yet (reloads %d)", st.Reloads)
		}
		if st.FailedReloads > 0 {
			return nil // decided: failed
		}
		if len(newWorkers(before, st)) == 0 {
			return fmt.Errorf("master reloaded but lists no new worker (workers %v)", st.WorkerPIDs())
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("reload haproxy: %w", err)
	}
	if after.FailedReloads > 0 {
		return fmt.Errorf("reload haproxy: the master could not start the new configuration and kept workers %v (show proc: %d failed reload(s)); haproxy's own log says why",
			after.WorkerPIDs(), after.FailedReloads)
	}
	return nil
}

// firstStatus reads the status before a reload. A master still
// re-executing from an earlier reload refuses connections for a moment, so
// that is waited out; anything else, such as a socket that is not a
// master CLI, fails at once.
func (h *HAProxy) firstStatus(ctx context.Context) (HAProxyStatus, error) {
	return h.awaitStatus(ctx, func(HAProxyStatus) error { return nil }, func(err error) bool {
		return errors.Is(err, syscall.ECONNREFUSED) || isCutShort(err)
	})
}

// newWorkers returns the workers in after that were not in before.
func newWorkers(before, after HAProxyStatus) []int {
	old := before.WorkerPIDs()
	var fresh []int
	for _, pid := range after.WorkerPIDs() {
		if !slices.Contains(old, pid) {
			fresh = append(fresh, pid)
		}
	}
	return fresh
}

// awaitStatus polls "show proc" until done accepts the status or ctx ends,
// and then returns the last error seen, so a timeout says what the master
// looked like. When retryable is not nil, a "show proc" error it refuses
// ends the wait at once.
func (h *HAProxy) awaitStatus(ctx context.Context, done func(HAProxyStatus) error, retryable func(error) bool) (HAProxyStatus, error) {
	interval := 10 * time.Millisecond
	for {
		st, err := h.Status(ctx)
		if err == nil {
			if err = done(st); err == nil {
				return st, nil
			}
		} else if retryable != nil && !retryable(err) {
			return HAProxyStatus{}, err
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return HAProxyStatus{}, fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-timer.C:
		}
		interval = min(2*interval, 200*time.Millisecond)
	}
}

// HAProxyStatus is what the master CLI's "show proc" says.
type HAProxyStatus struct {
	MasterPID int
	// Reloads counts the master's reloads, failed ones included.
	Reloads int
	// FailedReloads counts failed reloads since the last successful one.
	FailedReloads int
	Workers       []HAProxyWorker
}

// HAProxyWorker is one worker process listed by "show proc". Workers of
// earlier configurations stay listed while they finish their connections.
type HAProxyWorker struct {
	PID int
	// Reloads counts the reloads this worker has outlived: 0 for a worker
	// of the current configuration.
	Reloads int
}

// WorkerPIDs returns the workers' PIDs.
func (s HAProxyStatus) WorkerPIDs() []int {
	pids := make([]int, len(s.Workers))
	for i, w := range s.Workers {
		pids[i] = w.PID
	}
	return pids
}

// Status asks the master CLI for "show proc". It is exported for the agent's
// status report and for tests that wait for haproxy to be up.
func (h *HAProxy) Status(ctx context.Context) (HAProxyStatus, error) {
	if h.cfg.MasterSocket == "" {
		return HAProxyStatus{}, errors.New("haproxy status: no master_socket configured")
	}
	reply, err := h.masterCommand(ctx, "show proc")
	if err != nil {
		return HAProxyStatus{}, fmt.Errorf("haproxy status: %w", err)
	}
	st, err := parseShowProc(reply)
	if err != nil {
		return HAProxyStatus{}, fmt.Errorf("haproxy status: %w", err)
	}
	return st, nil
}

// parseShowProc reads the output of "show proc", which in 2.6 looks like
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	7186            master          2 [failed: 1]   0d00h11m02s     2.6.12
//	# workers
//	20258           worker          1               0d00h00m25s     2.6.12
//	# programs
func parseShowProc(reply string) (HAProxyStatus, error) {
	var st HAProxyStatus
	for line := range strings.Lines(reply) {
		fields := strings.Fields(line)
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		pid, errPID := strconv.Atoi(fields[0])
		reloads, errReloads := strconv.Atoi(fields[2])
		if errPID != nil || errReloads != nil {
			continue // a line of another shape (a program, a newer column)
		}
		switch fields[1] {
		case "master":
			st.MasterPID, st.Reloads = pid, reloads
			if i := slices.Index(fields, "[failed:"); i >= 0 && i+1 < len(fields) {
				st.FailedReloads, _ = strconv.Atoi(strings.TrimSuffix(fields[i+1], "]"))
			}
		case "worker":
			st.Workers = append(st.Workers, HAProxyWorker{PID: pid, Reloads: reloads})
		}
	}
	if st.MasterPID == 0 {
		return st, fmt.Errorf("no master in show proc output %q", reply)
	}
	return st, nil
}

// masterCommand sends one command to the master CLI and returns the reply.
func (h *HAProxy) masterCommand(ctx context.Context, command string) (string, error) {
	return socketCommand(ctx, "master cli", h.cfg.MasterSocket, command)
}

// isCutShort reports whether err is the master closing or resetting the
// connection under us, which is how a re-executing master ends the
// "reload" exchange.
func isCutShort(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
