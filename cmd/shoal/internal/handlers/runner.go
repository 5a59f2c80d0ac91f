package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// Options configure a Runner.
type Options struct {
	// Timeout bounds every run; the script's process group is killed then.
	Timeout time.Duration
	// Queue is how many events may wait per script; more are dropped.
	Queue int
	// ResponseLimit is the largest query response: a query handler's
	// output (stdout and stderr) longer than this is not sent.
	ResponseLimit int
	// MemberQuiescentPeriod and MemberCoalescePeriod batch member events
	// as Serf does (coalesce.go; Serf's agent uses 1s and 3s). Either 0
	// gives every member event to the scripts alone and at once.
	MemberQuiescentPeriod, MemberCoalescePeriod time.Duration
	// Clock drives the batching; nil is the system clock.
	Clock debounce.Clock
	// Self returns the local node as a script should see it.
	Self func() Self
	// Metrics receives the runner's metrics; nil registers none.
	Metrics *metrics.Registry
}

// Runner dispatches events to scripts. Handle never blocks: each script has
// a worker goroutine and a bounded queue, so a slow script delays only its
// own later events, and gossip, DNS and rendering never wait for scripts.
type Runner struct {
	log  *slog.Logger
	opts Options

	coal *coalescer // nil when member events are not batched

	mu      sync.Mutex
	workers []*worker
	closed  bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc

	runs    *metrics.CounterVec
	dropped *metrics.Counter
	refused *metrics.Counter
}

type job struct {
	event node.Event
	self  Self
}

type worker struct {
	script Script
	queue  chan job
}

// NewRunner returns a runner with no scripts.
func NewRunner(logger *slog.Logger, opts Options) *Runner {
	if opts.Queue < 1 {
		opts.Queue = 64
	}
	if opts.ResponseLimit < 1 {
		opts.ResponseLimit = 1024
	}
	if opts.Self == nil {
		opts.Self = func() Self { return Self{} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{log: logger, opts: opts, ctx: ctx, cancel: cancel,
		runs:    metrics.NewCounterVec("shoal_handler_runs_total", "Handler script runs by result: ok, failed, timeout.", "result"),
		dropped: metrics.NewCounter("shoal_handler_dropped_total", "Events not given to a handler script because its queue was full."),
		refused: metrics.NewCounter("shoal_handler_responses_refused_total", "Query handler outputs not sent because they were over the response limit."),
	}
	for _, res := range []string{"ok", "failed", "timeout"} {
		r.runs.WithLabelValues(res) // export zeros before the first run
	}
	if opts.Metrics != nil {
		opts.Metrics.Register(r.runs, r.dropped, r.refused)
	}
	if opts.MemberQuiescentPeriod > 0 && opts.MemberCoalescePeriod > 0 {
		if opts.Clock == nil {
			opts.Clock = debounce.SystemClock{}
		}
		r.coal = newCoalescer(debounce.Window{Min: opts.MemberQuiescentPeriod, Max: opts.MemberCoalescePeriod}, opts.Clock)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.coal.loop(ctx.Done(), r.dispatch)
		}()
	}
	return r
}

// SetScripts replaces the scripts (at start and on SIGHUP). Events already
// queued for a replaced script still run; new events go to the new set.
func (r *Runner) SetScripts(scripts []Script) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for _, w := range r.workers {
		close(w.queue)
	}
	r.workers = r.workers[:0:0]
	for _, s := range scripts {
		w := &worker{script: s, queue: make(chan job, r.opts.Queue)}
		r.workers = append(r.workers, w)
		r.wg.Add(1)
		go r.work(w)
	}
}

// Handle queues e for every script whose filter matches, member events
// after batching them. It never blocks.
func (r *Runner) Handle(e node.Event) {
	if r.coal == nil {
		if he, ok := e.(*node.HealthEvent); ok {
			e = &HealthBatch{Events: []*node.HealthEvent{he}}
		}
		r.dispatch(e)
		return
	}
	switch e := e.(type) {
	case *node.MemberEvent:
		// Reaps reach the batch even with no script, so it forgets.
		if !r.idle() || e.Type == node.EventMemberReap {
			r.coal.add(e)
		}
	case *node.HealthEvent:
		// Kept with no script too: what a script added by SIGHUP
		// first hears is then a change, not old news.
		r.coal.addHealth(e)
	default:
		r.dispatch(e)
	}
}

func (r *Runner) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed || len(r.workers) == 0
}

// dispatch queues e for every script whose filter matches.
func (r *Runner) dispatch(e node.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.workers) == 0 {
		return
	}
	var self Self
	have := false
	for _, w := range r.workers {
		if !w.script.Match(e) {
			continue
		}
		if !have {
			self, have = r.opts.Self(), true
		}
		select {
		case w.queue <- job{event: e, self: self}:
		default:
			r.dropped.Inc()
			r.log.Warn("handler queue full, event dropped", "handler", w.script.Spec, "event", e.String(), "queue", cap(w.queue))
		}
	}
}

// Close stops taking events, kills running scripts and waits for the
// workers to exit.
func (r *Runner) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for _, w := range r.workers {
			close(w.queue)
		}
		r.workers = nil
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

func (r *Runner) work(w *worker) {
	defer r.wg.Done()
	for j := range w.queue {
		if r.ctx.Err() != nil {
			continue // closing: drain without running
		}
		r.run(w.script, j)
	}
}

func (r *Runner) run(s Script, j job) {
	log := r.log.With("handler", s.Spec, "event", j.event.String())
	stopSlowWarning := warnWhenSlow(log)
	res := invoke(r.ctx, s.Command, Env(j.self, j.event), Stdin(j.event), r.opts.Timeout, r.opts.ResponseLimit)
	stopSlowWarning()
	switch {
	case res.timedOut:
		r.runs.WithLabelValues("timeout").Inc()
		log.Error("handler timed out and was killed", "timeout", r.opts.Timeout, "output", res.tail)
		return
	case res.err != nil:
		r.runs.WithLabelValues("failed").Inc()
		log.Error("handler failed", "exit_status", res.exitCode, "err", res.err, "took", res.took, "output", res.tail)
		return
	}
	r.runs.WithLabelValues("ok").Inc()
	log.Debug("handler ran", "took", res.took, "output", res.tail)
	if q, ok := j.event.(*node.Query); ok && res.size > 0 {
		r.respond(log, q, res)
	}
}

// respond sends a query handler's output, stdout and stderr together, as
// the query's response, as Serf does. Output over the limit is not sent
// at all, as in Serf: a cut response could read as a whole one.
func (r *Runner) respond(log *slog.Logger, q *node.Query, res result) {
	if res.size > r.opts.ResponseLimit {
		r.refused.Inc()
		log.Warn("handler output over the query response limit, no response sent", "size", res.size, "limit", r.opts.ResponseLimit)
		return
	}
	if err := q.Respond(res.output); err != nil {
		log.Warn("query response not sent", "err", err)
	}
}
