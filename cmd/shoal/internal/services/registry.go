// Package services is the agent's local service registry: the instances
// from the config files and those registered at runtime, their checks,
// node-level checks and maintenance. It runs the checks (package checks),
// keeps what the operator set at runtime in the data directory, and
// publishes the instances with their health through Options.Publish
// (node.SetCatalog in the agent), coalesced so a flapping check cannot
// storm it.
package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/node"
)

// DefaultMinPublishInterval is the least time between two Publish calls:
// at most 10 per second, however often checks change.
const DefaultMinPublishInterval = 100 * time.Millisecond

// Options configures a Registry.
type Options struct {
	// DataDir holds the state file (StateFile); empty keeps the runtime
	// state in memory only.
	DataDir string
	Logger  *slog.Logger
	// Publish hands the agent's instances and node-level checks to the
	// gossip layer (node.SetCatalog). It is called from Run only, once at
	// start and then after changes, at most once per MinPublishInterval,
	// always with the latest state. May be nil.
	Publish func(services []node.Service, nodeChecks []node.CheckState) error
	// MinPublishInterval defaults to DefaultMinPublishInterval.
	MinPublishInterval time.Duration
	// OnTransition, if set, is told each status transition of a check,
	// with the status it left, as it happens and before it is published:
	// for metrics. It must not block; it may be called concurrently.
	OnTransition func(res checks.Result, from node.Health)
}

// Registry is the agent's local service registry. Its methods are safe
// for concurrent use.
type Registry struct {
	opts   Options
	logger *slog.Logger
	path   string
	runner *checks.Runner
	// dirty wakes the publish loop; changes wakes the one Changes
	// watcher. Both have capacity 1, so bursts collapse.
	dirty, changes chan struct{}

	mu         sync.Mutex
	config     []Registration // normalized, in config order
	nodeChecks []checks.Definition
	state      persisted // runtime registrations sorted by ID
	configured bool      // SetConfig ran: every check the state may name is known
	lastDefs   map[string]checks.Definition
}

// New loads the state file under opts.DataDir, if any, and starts the
// runtime registrations' checks' bookkeeping; Run runs them.
func New(opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinPublishInterval <= 0 {
		opts.MinPublishInterval = DefaultMinPublishInterval
	}
	r := &Registry{
		opts:     opts,
		logger:   opts.Logger,
		dirty:    make(chan struct{}, 1),
		changes:  make(chan struct{}, 1),
		lastDefs: map[string]checks.Definition{},
	}
	if opts.DataDir != "" {
		r.path = filepath.Join(opts.DataDir, filepath.FromSlash(StateFile))
	}
	r.runner = checks.NewRunner(opts.Logger, func(checks.Result) { r.changed() })
	if opts.OnTransition != nil {
		r.runner.OnStatus(opts.OnTransition)
	}
	st, err := loadState(r.path)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(st.Runtime, byID)
	r.state = st.clone()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.commit(nil, nil, st); err != nil {
		return nil, corrupt(r.path, err)
	}
	return r, nil
}

func byID(a, b Registration) int { return strings.Compare(a.ID, b.ID) }

// Changes signals (capacity 1, for one watcher) after any change of a
// service, check or maintenance; read Services and NodeChecks then.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

func (r *Registry) changed() {
	for _, c := range []chan struct{}{r.dirty, r.changes} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// commit installs a candidate (config services, node checks, runtime
// state) after validating it as a whole, writing the state file first
// when it changed: nothing changes unless everything can. Callers hold
// r.mu.
func (r *Registry) commit(cfg []Registration, nodeChecks []checks.Definition, next persisted) error {
	defs, err := allChecks(cfg, nodeChecks, next.Runtime)
	if err != nil {
		return err
	}
	prune(&next, cfg, defs, r.configured)
	for _, d := range defs {
		if prev, had := r.lastDefs[d.ID]; had && !reflect.DeepEqual(prev, d) {
			delete(next.TTL, d.ID) // a changed check starts over, after a restart too
		}
	}
	if !reflect.DeepEqual(next, r.state) {
		if err := saveState(r.path, next); err != nil {
			return err
		}
	}
	if err := r.runner.Set(defs); err != nil {
		// allChecks validated every definition: a bug, not bad input.
		return fmt.Errorf("services: start checks: %w", err)
	}
	r.config, r.nodeChecks, r.state = cfg, nodeChecks, next
	r.restoreTTL(defs)
	r.changed()
	return nil
}

// allChecks lists every check definition and rejects a check ID used
// twice, naming both owners.
func allChecks(cfg []Registration, nodeChecks []checks.Definition, runtime []Registration) ([]checks.Definition, error) {
	var defs []checks.Definition
	owner := map[string]string{}
	var errs []error
	add := func(who string, d checks.Definition) {
		if prev, ok := owner[d.ID]; ok {
			errs = append(errs, withKind(ErrConflict, fmt.Errorf("check id %q: used by %s and by %s", d.ID, prev, who)))
			return
		}
		owner[d.ID] = who
		defs = append(defs, d)
	}
	for _, d := range nodeChecks {
		add("a node check", d)
	}
	for _, reg := range slices.Concat(cfg, runtime) {
		for _, d := range reg.Checks {
			add(fmt.Sprintf("service %q", reg.ID), d)
		}
	}
	return defs, errors.Join(errs...)
}

// prune drops, once the config is known, the maintenance of services
// and the ttl state of checks that are gone.
func prune(next *persisted, cfg []Registration, defs []checks.Definition, configured bool) {
	if !configured {
		return
	}
	for id := range next.ServiceMaintenance {
		if !slices.ContainsFunc(slices.Concat(cfg, next.Runtime), func(reg Registration) bool { return reg.ID == id }) {
			delete(next.ServiceMaintenance, id)
		}
	}
	for id := range next.TTL {
		if !slices.ContainsFunc(defs, func(d checks.Definition) bool { return d.ID == id && d.TTL > 0 }) {
			delete(next.TTL, id)
		}
	}
}

// restoreTTL gives each ttl check that is new to this process (at start,
// or when the config names it once the state is loaded) its persisted
// status. A check whose definition changed starts over, as any other.
func (r *Registry) restoreTTL(defs []checks.Definition) {
	last := map[string]checks.Definition{}
	for _, d := range defs {
		last[d.ID] = d
		saved, ok := r.state.TTL[d.ID]
		if _, had := r.lastDefs[d.ID]; d.TTL == 0 || !ok || had {
			continue
		}
		status, _ := node.ParseHealth(saved.Status)
		if err := r.runner.UpdateTTL(d.ID, status, saved.Note); err != nil {
			r.logger.Warn("restore ttl status", "check", d.ID, "err", err)
		}
	}
	r.lastDefs = last
}

// Run runs the checks and publishes, until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.runner.Run(ctx); err != nil {
			r.logger.Error("checks stopped", "err", err)
		}
	})
	r.publishLoop(ctx)
	wg.Wait()
	return nil
}
