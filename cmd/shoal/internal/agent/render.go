package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/render"
)

// renderer keeps the agent's templates current: it owns one render.Runner
// for the configured template set and replaces it when SIGHUP changes the
// set. It exists even with no templates, so a reload can add some and the
// config-hash query has one place to ask.
type renderer struct {
	log    *slog.Logger
	source render.Source
	// onInstall announces a changed file (the config-hash user event).
	onInstall func(render.Installed)

	mu      sync.Mutex
	tmpls   []config.Template // the set the current runner renders
	runner  *render.Runner    // nil: no templates
	next    *render.Runner    // built by Reload, started by Run
	swap    chan struct{}     // capacity 1: next is ready
	lbs     lbSet             // the backends of runner's templates
	nextLBs lbSet             // the backends of next's templates
	carried map[string]render.TemplateStatus
	// carriedRT keeps, by template, the runtime counters of HAProxy
	// backends a reload replaced.
	carriedRT map[string]backends.RuntimeStats
}

// lbSet is the backends of one template set, by configuration and by
// template name. A reload reuses the backends whose configuration did not
// change: an HAProxy backend holds state between calls (servers still
// draining, its counters), which a new value would lose.
type lbSet struct {
	byConfig map[string]backends.Backend
	byName   map[string]backends.Backend
}

var _ component = (*renderer)(nil)

func (a *Agent) newRendererFor(cfg config.Config) (*renderer, error) {
	r := &renderer{
		log:       a.log.With("component", "render"),
		source:    a.node,
		onInstall: a.announceHash,
		swap:      make(chan struct{}, 1),
		carried:   map[string]render.TemplateStatus{},
		carriedRT: map[string]backends.RuntimeStats{},
	}
	run, lbs, err := r.build(cfg.Templates, false)
	if err != nil {
		return nil, err
	}
	r.tmpls, r.runner, r.lbs = cfg.Templates, run, lbs
	return r, nil
}

// build makes a runner for tmpls, nil for none, and returns the backends
// it uses. Backends are built once per distinct configuration, so
// templates that share a load balancer share one value and render reloads
// it once per batch; a configuration the running set already has keeps
// its backend.
func (r *renderer) build(tmpls []config.Template, dry bool) (*render.Runner, lbSet, error) {
	set := lbSet{byConfig: map[string]backends.Backend{}, byName: map[string]backends.Backend{}}
	if len(tmpls) == 0 {
		return nil, set, nil
	}
	// The running set's backends, and those of a set built but not yet
	// started: both hold the backend of a configuration they share.
	r.mu.Lock()
	prev := maps.Clone(r.lbs.byConfig)
	if prev == nil {
		prev = map[string]backends.Backend{}
	}
	maps.Copy(prev, r.nextLBs.byConfig)
	r.mu.Unlock()
	var tcs []render.TemplateConfig
	var errs []error
	for i, t := range tmpls {
		b, err := r.backend(t, set, prev, dry)
		if err != nil {
			errs = append(errs, fmt.Errorf("template %d (%s): %w", i+1, t.Destination, err))
			continue
		}
		if !dry && t.NoReload {
			// -dev writes into a folder of the working directory that
			// may not exist yet.
			if err := os.MkdirAll(filepath.Dir(t.Destination), 0o755); err != nil {
				errs = append(errs, fmt.Errorf("template %d: %w", i+1, err))
			}
		}
		tcs = append(tcs, t.RenderConfig(b))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, set, err
	}
	rc := render.Config{Templates: tcs, Source: r.source, Dry: dry}
	if !dry {
		rc.OnInstall = r.onInstall
	}
	run, err := render.New(rc, r.log)
	return run, set, err
}

// backend returns t's backend, recorded in set: the one of an earlier
// template with the same configuration, else the one prev (the running
// set) has for it, else a new one.
func (r *renderer) backend(t config.Template, set lbSet, prev map[string]backends.Backend, dry bool) (backends.Backend, error) {
	if dry {
		return nil, nil // a dry render never validates or reloads
	}
	bin := t.Backend.Kind
	switch t.Backend.Kind {
	case "haproxy":
		if t.Backend.HAProxy.Binary != "" {
			bin = t.Backend.HAProxy.Binary
		}
	case "nginx":
		if t.Backend.Nginx.Binary != "" {
			bin = t.Backend.Nginx.Binary
		}
	}
	if t.NoReload && !onPath(bin) {
		r.log.Warn("load balancer not installed: rendering without validation", "backend", bin, "destination", t.Destination)
		return nil, nil
	}
	if bin != "command" && !onPath(bin) {
		r.log.Warn("load balancer not found: every render will fail validation until it is installed", "backend", bin, "destination", t.Destination)
	}
	key := fmt.Sprintf("%#v", t.Backend)
	b, ok := set.byConfig[key]
	if !ok {
		b, ok = prev[key]
	}
	if !ok {
		var err error
		if b, err = backends.New(t.Backend); err != nil {
			return nil, err
		}
	}
	set.byConfig[key] = b
	name := t.Name
	if name == "" {
		name = t.Destination // render's default name
	}
	set.byName[name] = b
	return b, nil
}

// Run runs the current runner and swaps in the next one when Reload
// built it. Only the first runner's failure to start is fatal; a later
// one's is logged and rendering resumes at the next reload.
func (r *renderer) Run(ctx context.Context) error {
	for first := true; ; first = false {
		r.mu.Lock()
		run := r.runner
		r.mu.Unlock()
		err := r.runUntilSwap(ctx, run)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if first {
				return fmt.Errorf("render: %w", err)
			}
			r.log.Error("template runner stopped; rendering resumes at the next reload", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-r.swap:
			}
		}
		r.swapNext(run)
	}
}

// swapNext makes the runner Reload built the current one, keeping the
// counters of run, the one it replaces.
func (r *renderer) swapNext(run *render.Runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if run != nil {
		r.carry(run.Status())
	}
	r.carryRuntime(r.lbs, r.nextLBs)
	r.runner, r.next = r.next, nil
	r.lbs, r.nextLBs = r.nextLBs, lbSet{}
}

// runUntilSwap runs run (nil: nothing) until ctx ends or Reload signals
// a new runner, and returns the runner's error if it stopped by itself.
func (r *renderer) runUntilSwap(ctx context.Context, run *render.Runner) error {
	if run == nil {
		select {
		case <-ctx.Done():
		case <-r.swap:
		}
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run.Run(rctx) }()
	select {
	case err := <-done:
		if err == nil && ctx.Err() == nil {
			err = errors.New("runner returned early")
		}
		return err
	case <-ctx.Done():
	case <-r.swap:
	}
	cancel()
	return <-done
}

// addCounters adds from's counters to to's: the counters a template keeps
// across the runners that SIGHUP replaces.
func addCounters(to *render.TemplateStatus, from render.TemplateStatus) {
	to.Renders += from.Renders
	to.Installs += from.Installs
	to.Failures += from.Failures
	to.Reloads += from.Reloads
	to.Applied += from.Applied
}

// carry keeps the counters of a runner being replaced, so the metrics of a
// template that stays configured keep growing across reloads. The caller
// holds r.mu.
func (r *renderer) carry(st []render.TemplateStatus) {
	for _, s := range st {
		c := r.carried[s.Name]
		addCounters(&c, s)
		r.carried[s.Name] = c
	}
}

// Reload replaces the template set. A set that does not build (a template
// that does not parse, a bad backend) leaves the running one in place.
func (r *renderer) Reload(cfg config.Config) error {
	r.mu.Lock()
	same := reflect.DeepEqual(r.tmpls, cfg.Templates)
	r.mu.Unlock()
	if same {
		return nil
	}
	next, lbs, err := r.build(cfg.Templates, false)
	if err != nil {
		return fmt.Errorf("templates not reloaded, the running ones stay: %w", err)
	}
	r.mu.Lock()
	r.tmpls, r.next, r.nextLBs = cfg.Templates, next, lbs
	r.mu.Unlock()
	select {
	case r.swap <- struct{}{}:
	default:
	}
	r.log.Info("templates reloaded", "templates", len(cfg.Templates))
	return nil
}

func (r *renderer) current() *render.Runner {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil {
		return r.next // Run is about to start it
	}
	return r.runner
}

// Status is every template's state.
func (r *renderer) Status() []render.TemplateStatus {
	if run := r.current(); run != nil {
		return run.Status()
	}
	return nil
}

// find resolves a template by name or destination; "" is every template.
func (r *renderer) find(run *render.Runner, name string) (string, bool) {
	if name == "" {
		return "", true
	}
	for _, s := range run.Status() {
		if s.Name == name || s.Destination == name {
			return s.Name, true
		}
	}
	return "", false
}

// renderNow forces a render of one template or all, reloading even when
// the file is unchanged, and returns once that render is done, ctx ends
// or the runner is replaced.
func (r *renderer) renderNow(ctx context.Context, name string) ([]render.TemplateStatus, error) {
	run := r.current()
	if run == nil {
		return nil, errors.New("this agent has no templates")
	}
	target, ok := r.find(run, name)
	if !ok {
		return nil, fmt.Errorf("no template named %q here", name)
	}
	// RenderWait returns when the runner's loop has done the render; a
	// runner that SIGHUP replaces meanwhile stops, which ends the wait too.
	if err := run.RenderWait(ctx, target); err != nil {
		if r.current() != run {
			return nil, errors.New("templates were reloaded meanwhile; run it again")
		}
		return nil, err
	}
	return run.Status(), nil
}

// dry renders every configured template from the live data, with a
// separate dry runner: the running one may not be interrupted, and a dry
// runner writes, validates and reloads nothing.
func (r *renderer) dry(ctx context.Context) ([]render.Result, error) {
	r.mu.Lock()
	tmpls := r.tmpls
	r.mu.Unlock()
	run, _, err := r.build(tmpls, true)
	if err != nil || run == nil {
		return nil, err
	}
	return run.Once(ctx)
}

// totals returns status with the counters of replaced runners added, and
// the runtime counters of each template's HAProxy.
func (r *renderer) totals() []templateTotals {
	st := r.Status()
	r.mu.Lock()
	defer r.mu.Unlock()
	lbs := r.lbs
	if r.next != nil {
		lbs = r.nextLBs // Status came from next
	}
	out := make([]templateTotals, len(st))
	seen := map[backends.Backend]bool{}
	for i, s := range st {
		addCounters(&s, r.carried[s.Name])
		out[i].TemplateStatus = s
		b := lbs.byName[s.Name]
		if rs, ok := b.(runtimeReporter); ok {
			stats := rs.RuntimeStats()
			addRuntime(&stats, r.carriedRT[s.Name])
			out[i].Runtime = &stats
			out[i].sharedRuntime = seen[b]
			seen[b] = true
		}
	}
	return out
}

// statusAPI converts render's status for the API.
func statusAPI(st []templateTotals) []api.TemplateStatus {
	out := make([]api.TemplateStatus, len(st))
	for i, s := range st {
		out[i] = api.TemplateStatus{
			Name: s.Name, Source: s.Source, Destination: s.Destination, Backend: s.Backend,
			LastRender: s.LastRender, OK: s.OK, Error: s.Error, TemplateError: s.TemplateError,
			State: s.State, ReloadPending: s.ReloadPending, NextReloadRetry: s.NextReloadRetry,
			Hash: s.Hash, Backends: s.Backends,
			Renders: s.Renders, Installs: s.Installs, Failures: s.Failures, Reloads: s.Reloads,
			Applied: s.Applied, Runtime: runtimeAPI(s.Runtime),
		}
		for _, e := range s.Excluded {
			out[i].Excluded = append(out[i].Excluded, api.Exclusion{Member: e.Member, Reason: e.Reason})
		}
	}
	return out
}
