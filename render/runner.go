package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/node"
)

// Source is the membership view the runner renders from. *node.Node
// satisfies it; tests pass a small fake.
type Source interface {
	// Snapshot returns the current, immutable view of the cluster.
	Snapshot() *node.Snapshot
	// Watch returns a capacity-1 channel that receives after changes, and a
	// function that stops the watch.
	Watch() (<-chan struct{}, func())
}

// TemplateConfig is one template { } block of the agent config.
type TemplateConfig struct {
	// Name identifies the template in status, logs and RenderNow. Default:
	// Destination.
	Name string
	// Source is "builtin:haproxy", "builtin:nginx" or a template file path.
	// A file's directory is watched and an edit re-renders at once.
	Source string
	// Destination is the file to keep current.
	Destination string
	// Backend validates candidates and reloads the load balancer. nil: no
	// validation and no reload (a plain file). Templates that share a
	// Backend value are reloaded once per batch.
	Backend backends.Backend
	// Wait coalesces changes; see Wait.
	Wait Wait
	// MinBackends and MaxDropFraction form the floor guard; see Floor.
	MinBackends     int
	MaxDropFraction float64
	// Perms is the mode of a destination created by shoal (default 0644).
	// An existing destination keeps its mode.
	Perms fs.FileMode
	// Backup keeps the replaced file as Destination + ".bak".
	Backup bool
	// Vars are trusted, local settings the template reads as .Vars.
	Vars map[string]string
	// NoReload validates and installs but never reloads the backend: no
	// load balancer runs (shoal agent -dev) or something else reloads it.
	NoReload bool
	// ServeSuspects (drain_on_suspect = false) leaves the instances of
	// suspect members undrained: Instance.Drain is always false.
	ServeSuspects bool
}

// Config configures a Runner.
type Config struct {
	Templates []TemplateConfig
	// Source is the membership view; required.
	Source Source
	// Clock drives quiescence; default SystemClock.
	Clock Clock
	// There is no timeout here: every backend bounds its own calls with
	// its configured timeout (backends.Backend), so the runner adds no cap
	// that would silently shorten a template's timeout = "60s".
	// Dry renders and compares but never writes, validates or reloads;
	// Once returns what would be written.
	Dry bool
	// OnInstall, if set, is called from the runner's goroutine after a
	// render changed a destination file. It must not block for long.
	OnInstall func(Installed)
}

// Runner keeps every configured template's destination current: it watches
// the membership view and the template files, coalesces changes, renders,
// validates, installs and reloads. Create it with New, drive it with Run.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	tmpl []*tmplState // sorted by name

	notifyCh  chan struct{} // capacity 1: Notify
	notifyUrg atomic.Bool
	forceCh   chan struct{} // capacity 1: RenderNow
	forceMu   sync.Mutex
	forced    map[string]bool
	waiters   []chan error       // RenderWait callers, told when the forced render is done
	stopped   bool               // Run has returned: RenderWait fails at once
	idleCh    chan chan struct{} // tests: closed once due renders are done
	running   atomic.Bool
	batchMu   sync.Mutex // one batch at a time: Run's loop or Once
	statusMu  sync.Mutex
}

type tmplState struct {
	cfg   TemplateConfig
	t     *Template
	floor Floor
	q     debounce.State
	// force re-installs and reloads even when the bytes are unchanged.
	force bool
	// reloadPending: the file changed but the reload failed; retry it at
	// retryAt (backoff doubles from ReloadRetryMin to ReloadRetryMax) and
	// with every render meanwhile, even if the bytes are then unchanged.
	reloadPending bool
	retryAt       time.Time
	backoff       time.Duration
	installedN    int // backends in the installed file, -1 unknown
	// reconcileAt is when the backend next compares the running load
	// balancer with the installed file; zero: never (not a
	// backends.RuntimeApplier).
	reconcileAt time.Time
	lastExcl    string // exclusions last logged, to log changes only

	st TemplateStatus // guarded by Runner.statusMu
}

// New validates cfg, loads and parses every template and reads the hashes of
// the installed files. It starts nothing.
func New(cfg Config, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	var errs []error
	if cfg.Source == nil {
		errs = append(errs, errors.New("render: no membership source"))
	}
	r := &Runner{
		cfg:      cfg,
		log:      logger,
		notifyCh: make(chan struct{}, 1),
		forceCh:  make(chan struct{}, 1),
		forced:   map[string]bool{},
		idleCh:   make(chan chan struct{}),
	}
	names, dests := map[string]bool{}, map[string]bool{}
	for i, tc := range cfg.Templates {
		if tc.Name == "" {
			tc.Name = tc.Destination
		}
		if err := CheckTemplate(tc); err != nil {
			errs = append(errs, fmt.Errorf("render: template %d (%s): %w", i+1, tc.Name, err))
			continue
		}
		if names[tc.Name] {
			errs = append(errs, fmt.Errorf("render: template name %q used twice", tc.Name))
		}
		if dests[tc.Destination] {
			errs = append(errs, fmt.Errorf("render: destination %s used by two templates", tc.Destination))
		}
		names[tc.Name], dests[tc.Destination] = true, true
		t, err := ParseTemplate(tc.Source)
		if err != nil {
			errs = append(errs, fmt.Errorf("render: %w", err))
			continue
		}
		ts := &tmplState{
			cfg:        tc,
			t:          t,
			floor:      Floor{MinBackends: tc.MinBackends, MaxDropFraction: tc.MaxDropFraction},
			q:          debounce.State{Window: tc.Wait},
			installedN: -1,
		}
		ts.st = TemplateStatus{
			Name: tc.Name, Source: tc.Source, Destination: tc.Destination,
			OK: true, State: StateOK, Hash: installedHash(tc.Destination),
		}
		if tc.Backend != nil {
			ts.st.Backend = tc.Backend.Name()
		}
		r.tmpl = append(r.tmpl, ts)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(r.tmpl, func(i, j int) bool { return r.tmpl[i].cfg.Name < r.tmpl[j].cfg.Name })
	return r, nil
}

// CheckTemplate reports every problem of one template's settings at once,
// each naming its setting as the agent's config file spells it
// ("wait.max 1s is below wait.min 5s"). It is the one home of these rules:
// New applies it, and the agent's config loading calls it for each
// template block.
func CheckTemplate(tc TemplateConfig) error {
	var errs []error
	if tc.Source == "" {
		errs = append(errs, errors.New("source is empty"))
	}
	if tc.Destination == "" {
		errs = append(errs, errors.New("destination is empty"))
	}
	if tc.Wait.Min < 0 || tc.Wait.Max < 0 {
		errs = append(errs, fmt.Errorf("wait.min %s or wait.max %s is negative", tc.Wait.Min, tc.Wait.Max))
	}
	if tc.Wait.Max > 0 && tc.Wait.Max < tc.Wait.Min {
		errs = append(errs, fmt.Errorf("wait.max %s is below wait.min %s", tc.Wait.Max, tc.Wait.Min))
	}
	if tc.MinBackends < 0 {
		errs = append(errs, fmt.Errorf("min_backends %d is negative", tc.MinBackends))
	}
	if tc.MaxDropFraction < 0 || tc.MaxDropFraction > 1 {
		errs = append(errs, fmt.Errorf("max_drop_fraction %v is not within 0..1", tc.MaxDropFraction))
	}
	return errors.Join(errs...)
}

// Notify tells the runner the membership changed, for callers that learn it
// from node.Subscribe rather than Watch. urgent (a member failed or left)
// skips the Min wait. It never blocks.
func (r *Runner) Notify(urgent bool) {
	if urgent {
		r.notifyUrg.Store(true)
	}
	select {
	case r.notifyCh <- struct{}{}:
	default:
	}
}

// RenderNow renders the named template ("" for all) at once, without
// waiting, and reloads its backend even if the file did not change (shoal
// event reload). The floor guard still applies. It never blocks.
func (r *Runner) RenderNow(name string) error {
	if name != "" && r.find(name) == nil {
		return fmt.Errorf("render: no template %q", name)
	}
	r.forceMu.Lock()
	r.forced[name] = true
	r.forceMu.Unlock()
	select {
	case r.forceCh <- struct{}{}:
	default:
	}
	return nil
}

// RenderWait is RenderNow, then waits until that render is done (rendered,
// installed, reloaded, or failed: Status tells which), ctx ends, or Run
// returns. Called before Run starts, it waits for Run's first loop. It is how shoal render -once waits: on a signal from the
// runner's loop, not by polling Status.
func (r *Runner) RenderWait(ctx context.Context, name string) error {
	if name != "" && r.find(name) == nil {
		return fmt.Errorf("render: no template %q", name)
	}
	done := make(chan error, 1)
	r.forceMu.Lock()
	if r.stopped {
		r.forceMu.Unlock()
		return errors.New("render: runner stopped")
	}
	r.forced[name] = true
	r.waiters = append(r.waiters, done)
	r.forceMu.Unlock()
	select {
	case r.forceCh <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeForced returns and clears the templates RenderNow and RenderWait
// asked for, and the waiters to tell once they are rendered.
func (r *Runner) takeForced() (map[string]bool, []chan error) {
	r.forceMu.Lock()
	defer r.forceMu.Unlock()
	forced, waiters := r.forced, r.waiters
	r.forced, r.waiters = map[string]bool{}, nil
	return forced, waiters
}

// stopWaiters tells every RenderWait caller that Run has returned.
func (r *Runner) stopWaiters(pending []chan error) {
	r.forceMu.Lock()
	defer r.forceMu.Unlock()
	for _, w := range append(pending, r.waiters...) {
		w <- errors.New("render: runner stopped before the render was done")
	}
	r.waiters = nil
	// Under forceMu, so that RenderWait never queues a waiter nobody answers.
	r.stopped = true
}

// Status returns the state of every template, sorted by name.
func (r *Runner) Status() []TemplateStatus {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	out := make([]TemplateStatus, len(r.tmpl))
	for i, ts := range r.tmpl {
		out[i] = ts.st
		out[i].Excluded = append([]Exclusion(nil), ts.st.Excluded...)
	}
	return out
}

func (r *Runner) find(name string) *tmplState {
	for _, ts := range r.tmpl {
		if ts.cfg.Name == name {
			return ts
		}
	}
	return nil
}

// Once renders every template now from the current snapshot, installs and
// reloads (unless Config.Dry), and returns what it rendered, one Result per
// template with its own error. It is for shoal render -once [-dry] and
// refuses to run while Run is running.
func (r *Runner) Once(ctx context.Context) ([]Result, error) {
	if !r.running.CompareAndSwap(false, true) {
		return nil, errors.New("render: runner is running")
	}
	defer r.running.Store(false)
	// A one-off render reloads: no reconcile follows to finish drains.
	return r.batch(ctx, r.cfg.Source.Snapshot(), r.tmpl, false), nil
}

// Run renders every template once, then keeps them current until ctx is
// cancelled. It returns nil on cancellation, or an error if it cannot start.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("render: runner already running")
	}
	defer r.running.Store(false)

	r.forceMu.Lock()
	r.stopped = false
	r.forceMu.Unlock()
	changes, stop := r.cfg.Source.Watch()
	defer stop()
	fw, err := newFileWatcher(r.tmpl)
	if err != nil {
		return err
	}
	defer fw.close()

	l := &loop{prev: r.cfg.Source.Snapshot()}
	for _, ts := range r.tmpl {
		ts.q.Change(r.cfg.Clock.Now(), true) // first render: at once
	}
	defer func() {
		l.stopTimer()
		r.stopWaiters(l.waiters)
	}()
	for {
		if snap := r.runDue(ctx); snap != nil {
			l.prev = snap
		}
		// Everything forced before runDue was due at once, so it is done.
		for _, w := range l.waiters {
			w <- nil
		}
		l.waiters = nil
		if l.idle != nil {
			close(l.idle)
			l.idle = nil
		}
		timerC := l.arm(r)
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
			snap := r.cfg.Source.Snapshot()
			urgent := urgentChange(l.prev, snap) || healthLost(l.prev, snap)
			l.prev = snap
			r.changed(r.cfg.Clock.Now(), urgent)
		case <-r.notifyCh:
			r.changed(r.cfg.Clock.Now(), r.notifyUrg.Swap(false))
		case <-r.forceCh:
			l.waiters = append(l.waiters, r.force()...)
		case ev := <-fw.events():
			for _, ts := range fw.match(ev) {
				r.reloadTemplate(ts)
				ts.q.Change(r.cfg.Clock.Now(), true)
			}
		case err := <-fw.errors():
			r.log.Warn("template watch error", "err", err)
		case l.idle = <-r.idleCh:
		case <-timerC:
		}
	}
}

// loop is the state of Run's loop between iterations.
type loop struct {
	prev    *node.Snapshot // the snapshot last rendered or seen
	timer   Timer
	waiters []chan error  // RenderWait callers whose render is due now
	idle    chan struct{} // tests: closed once due renders are done
}

// arm sets one timer for the earliest pending render, reconcile or reload
// retry, and returns its channel (nil: nothing pending).
func (l *loop) arm(r *Runner) <-chan time.Time {
	l.stopTimer()
	next, ok := r.nextDue()
	if !ok {
		return nil
	}
	l.timer = r.cfg.Clock.NewTimer(next.Sub(r.cfg.Clock.Now()))
	return l.timer.C()
}

func (l *loop) stopTimer() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

// force marks the templates RenderNow and RenderWait asked for as due at
// once, and returns the waiters to tell when they are done.
func (r *Runner) force() []chan error {
	forced, waiters := r.takeForced()
	now := r.cfg.Clock.Now()
	for _, ts := range r.tmpl {
		if forced[""] || forced[ts.cfg.Name] {
			ts.force = true
			ts.q.Change(now, true)
		}
	}
	return waiters
}

// runDue renders the templates due now, in one batch (a template whose
// reload failed is due at its retry time: the render retries the reload),
// and then runs the reconciles that are due. It returns the snapshot it rendered, nil if
// none.
func (r *Runner) runDue(ctx context.Context) *node.Snapshot {
	now := r.cfg.Clock.Now()
	var due []*tmplState
	for _, ts := range r.tmpl {
		at, ok := ts.q.Due()
		retry := ts.reloadPending && !ts.retryAt.IsZero() && !ts.retryAt.After(now)
		if retry || (ok && !at.After(now)) {
			due = append(due, ts)
		}
		if retry {
			// Not again at once should this render stop before its reload
			// (a floor guard, a validation failure): at the same backoff.
			ts.retryAt = now.Add(ts.backoff)
		}
	}
	var snap *node.Snapshot
	if len(due) > 0 {
		snap = r.cfg.Source.Snapshot()
		for _, ts := range due {
			ts.q.Done()
		}
		r.batch(ctx, snap, due, true)
		for _, ts := range due {
			r.scheduleReconcile(ts)
		}
	}
	for _, ts := range r.tmpl {
		if !ts.reconcileAt.IsZero() && !ts.reconcileAt.After(r.cfg.Clock.Now()) {
			r.reconcile(ctx, ts)
		}
	}
	return snap
}

// waitIdle returns once the loop has rendered everything due at the clock's
// current time. Tests use it with a fake clock instead of sleeping.
func (r *Runner) waitIdle() {
	c := make(chan struct{})
	r.idleCh <- c
	<-c
}

// changed marks every template as having a pending change.
func (r *Runner) changed(now time.Time, urgent bool) {
	for _, ts := range r.tmpl {
		ts.q.Change(now, urgent)
	}
}

// nextDue returns the earliest time a template is due to render, to
// reconcile or to retry its reload.
func (r *Runner) nextDue() (time.Time, bool) {
	var next time.Time
	found := false
	for _, ts := range r.tmpl {
		if at, ok := ts.q.Due(); ok && (!found || at.Before(next)) {
			next, found = at, true
		}
		if at := ts.reconcileAt; !at.IsZero() && (!found || at.Before(next)) {
			next, found = at, true
		}
		if at := ts.retryAt; ts.reloadPending && !at.IsZero() && (!found || at.Before(next)) {
			next, found = at, true
		}
	}
	return next, found
}

// reloadTemplate re-parses an edited template file. A parse error keeps
// the last good template and is reported until the file parses again.
func (r *Runner) reloadTemplate(ts *tmplState) {
	err := ts.t.Reload()
	r.statusMu.Lock()
	if err != nil {
		ts.st.TemplateError = err.Error()
		ts.st.Failures++
	} else {
		ts.st.TemplateError = ""
	}
	r.statusMu.Unlock()
	if err != nil {
		r.log.Error("template does not parse; keeping the last good one", "template", ts.cfg.Name, "err", err)
		return
	}
	r.log.Info("template reloaded", "template", ts.cfg.Name, "source", ts.cfg.Source)
}

// urgentChange reports whether next differs from prev in a way that must
// render without waiting for quiet (healthLost covers an instance that
// stops being routable): an instance served in prev is gone
// (its member failed, left or was reaped, or it stopped offering the
// service), or its member became suspect or stopped being suspect, which
// drains it or brings it back (a suspicion lasts seconds; waiting for
// quiet would spend most of it).
func urgentChange(prev, next *node.Snapshot) bool {
	for p, n := range servingMembers(prev, next) {
		if n == nil || n.Status != p.Status || !n.Addr.Equal(p.Addr) {
			return true
		}
		for _, s := range p.Services {
			i := slices.IndexFunc(n.Services, func(ns node.Service) bool { return ns.ID == s.ID && ns.Name == s.Name })
			if i < 0 || n.Services[i].Port != s.Port || !n.Services[i].Address.Equal(s.Address) {
				return true
			}
		}
	}
	return false
}

// sameBackend reports whether two templates share one load balancer, so it
// is reloaded once for both. Backends of a type that cannot be compared are
// never shared.
func sameBackend(a, b backends.Backend) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) || !ta.Comparable() {
		return false
	}
	return a == b
}

// logExclusions logs the members left out of a template's data when that
// set changes, not at every render.
func (r *Runner) logExclusions(ts *tmplState, ex []Exclusion) {
	key := fmt.Sprint(ex)
	if key == ts.lastExcl {
		return
	}
	ts.lastExcl = key
	for _, e := range ex {
		r.log.Warn("member left out of rendering: unsafe value", "template", ts.cfg.Name, "member", e.Member, "reason", e.Reason)
	}
}

// The agent passes its *node.Node as the Source.
var _ Source = (*node.Node)(nil)
