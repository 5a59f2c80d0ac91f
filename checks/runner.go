package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// Runner runs a set of checks, each in its own goroutine, and keeps their
// results. Set reconciles the set at any time; Run owns the goroutines.
type Runner struct {
	logger *slog.Logger
	// onChange is told after a result changed (status, note or output).
	onChange func(Result)
	// onStatus is told a status transition (OnStatus); nil for none.
	onStatus func(res Result, from node.Health)
	// wake tells Run that Set added checks to start (capacity 1).
	wake chan struct{}

	mu     sync.Mutex
	checks map[string]*check
}

// check is one check's definition and state. Its fields are guarded by
// Runner.mu.
type check struct {
	def    Definition
	result Result
	th     threshold
	// cancel stops the check's goroutine; nil until Run started it.
	cancel context.CancelFunc
	// ttlReset restarts a ttl check's timer (capacity 1).
	ttlReset chan struct{}
}

// NewRunner returns a Runner with no checks. onChange (may be nil) is
// called after a check's status, note or output changed, outside the
// Runner's lock; calls for different checks may run concurrently, so it
// should treat the Result as a hint and may read Results for the state.
func NewRunner(logger *slog.Logger, onChange func(Result)) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func(Result) {}
	}
	return &Runner{logger: logger, onChange: onChange, wake: make(chan struct{}, 1), checks: map[string]*check{}}
}

// OnStatus sets f to be told each status transition of a check (not a
// change of note or output alone), with the status it left, outside the
// Runner's lock: for transition metrics. Call it before Run.
func (r *Runner) OnStatus(f func(res Result, from node.Health)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onStatus = f
}

// Set makes defs the running set. A check whose definition did not change
// keeps its state (status, counters, ttl timer); a new or changed one
// starts over at its initial status; a removed one stops. Nothing changes
// when a definition is invalid or two share an ID.
func (r *Runner) Set(defs []Definition) error {
	var errs []error
	seen := map[string]bool{}
	for _, d := range defs {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
		} else if seen[d.ID] {
			errs = append(errs, fmt.Errorf("check %q: id: defined twice", d.ID))
		}
		seen[d.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.checks {
		if !seen[id] {
			c.stop()
			delete(r.checks, id)
		}
	}
	for _, d := range defs {
		if old, ok := r.checks[d.ID]; ok {
			if reflect.DeepEqual(old.def, d) {
				continue
			}
			old.stop()
		}
		r.checks[d.ID] = newCheck(d)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

func newCheck(d Definition) *check {
	return &check{
		def: d,
		result: Result{
			CheckState: node.CheckState{ID: d.ID, Name: d.Name, ServiceID: d.ServiceID, Status: d.InitialStatus()},
			Updated:    time.Now(),
		},
		th:       threshold{successBeforePassing: d.SuccessBeforePassing, failuresBeforeCritical: d.FailuresBeforeCritical},
		ttlReset: make(chan struct{}, 1),
	}
}

func (c *check) stop() {
	if c.cancel != nil {
		c.cancel()
	}
}

// Run runs the checks, and those Set adds later, until ctx ends; then it
// stops them all and returns once their goroutines (and any script they
// ran) are gone.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for {
		r.mu.Lock()
		for _, c := range r.checks {
			if c.cancel == nil {
				cctx, cancel := context.WithCancel(ctx)
				c.cancel = cancel
				wg.Go(func() { r.loop(cctx, c) })
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
	}
}

// loop runs one check until ctx ends.
func (r *Runner) loop(ctx context.Context, c *check) {
	if c.def.Kind() == "ttl" {
		r.ttlLoop(ctx, c)
		return
	}
	var run func(context.Context) probe
	switch c.def.Kind() {
	case "http":
		run = newHTTPProber(c.def).probe
	case "tcp":
		run = tcpProber{c.def}.probe
	default:
		run = scriptProber{c.def}.probe
	}
	// A random first delay, so checks started together (at boot, on
	// SIGHUP) do not all fire in the same instant ever after.
	stagger := time.NewTimer(rand.N(min(c.def.Interval, time.Second)))
	defer stagger.Stop()
	select {
	case <-ctx.Done():
		return
	case <-stagger.C:
	}
	tick := time.NewTicker(c.def.Interval)
	defer tick.Stop()
	for {
		p := run(ctx)
		if ctx.Err() != nil {
			return // stopped mid-run: the result says nothing about the target
		}
		r.record(c, p)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ttlLoop turns a ttl check critical when no update came for TTL.
func (r *Runner) ttlLoop(ctx context.Context, c *check) {
	timer := time.NewTimer(c.def.TTL)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.ttlReset:
			timer.Reset(c.def.TTL)
		case <-timer.C:
			r.set(c, node.HealthCritical, "TTL expired", fmt.Sprintf("TTL expired: no update for %s", c.def.TTL))
		}
	}
}

// record applies one probe result through the check's thresholds.
func (r *Runner) record(c *check, p probe) {
	r.mu.Lock()
	apply := r.checks[c.def.ID] == c && c.th.apply(p.status)
	r.mu.Unlock()
	if apply {
		r.set(c, p.status, p.note, p.output)
	}
}

// set stores a check's new result and tells onChange when it differs.
func (r *Runner) set(c *check, status node.Health, note, output string) {
	r.mu.Lock()
	if r.checks[c.def.ID] != c { // removed or replaced meanwhile
		r.mu.Unlock()
		return
	}
	old := c.result
	note = cleanNote(note)
	if old.Status == status && old.Note == note && old.Output == output {
		r.mu.Unlock()
		return
	}
	c.result.Status, c.result.Note, c.result.Output, c.result.Updated = status, note, output, time.Now()
	res := c.result
	onStatus := r.onStatus
	r.mu.Unlock()
	if old.Status != status {
		r.logger.Info("check status changed", "check", c.def.ID, "service", c.def.ServiceID,
			"from", old.Status.String(), "to", status.String(), "note", note)
		if onStatus != nil {
			onStatus(res, old.Status)
		}
	}
	r.onChange(res)
}

// UpdateTTL sets a ttl check's status and note (pushed by the operator's
// service) and restarts its TTL.
func (r *Runner) UpdateTTL(id string, status node.Health, note string) error {
	if status > node.HealthCritical {
		return fmt.Errorf("check %q: status %s: want passing, warning or critical", id, status)
	}
	r.mu.Lock()
	c, ok := r.checks[id]
	r.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("check %q: no such check", id)
	case c.def.Kind() != "ttl":
		return fmt.Errorf("check %q: is a %s check, not a ttl check", id, c.def.Kind())
	}
	select {
	case c.ttlReset <- struct{}{}:
	default: // a reset is already pending
	}
	r.set(c, status, note, note)
	return nil
}

// Result returns the current result of check id.
func (r *Runner) Result(id string) (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.checks[id]
	if !ok {
		return Result{}, false
	}
	return c.result, true
}

// Results returns every check's current result, sorted by ID.
func (r *Runner) Results() []Result {
	r.mu.Lock()
	out := make([]Result, 0, len(r.checks))
	for _, c := range r.checks {
		out = append(out, c.result)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Result) int { return strings.Compare(a.ID, b.ID) })
	return out
}
