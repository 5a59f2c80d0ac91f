package agent

import (
	"sync"
	"time"
)

// reloadEventInterval is the least time between two reloads of one
// template that reload events cause. Any member may send `shoal event
// reload`, so a flood of them must not turn into a flood of load-balancer
// reloads.
const reloadEventInterval = time.Second

// reloadGate coalesces reload requests per target (a template's name, or
// "" for all templates, which render reloads in one batch): the first
// after a quiet interval fires at once; later ones within the interval
// collapse into one follow-up, fired when the interval has passed.
// Whatever the rate of requests, a target reloads at most once per
// interval, so n templates reload at most n+1 times per interval.
// (render.Runner collapses forced renders that arrive while one runs, so
// a slow reload adds no backlog either.)
type reloadGate struct {
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration, func()) // time.AfterFunc; tests step it
	fire     func(template string)

	mu sync.Mutex
	// Keys are targets that exist here (reloadEvent resolves names
	// first), so the maps stay as small as the template set.
	last    map[string]time.Time // target -> its last fired reload
	pending map[string]bool      // target -> a follow-up is scheduled
}

func newReloadGate(interval time.Duration, fire func(string)) *reloadGate {
	return &reloadGate{
		interval: interval,
		now:      time.Now,
		after:    func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		fire:     fire,
		last:     map[string]time.Time{},
		pending:  map[string]bool{},
	}
}

// gateOutcome says what became of a request.
type gateOutcome string

const (
	gateFired     gateOutcome = "fired"     // reloading now
	gateScheduled gateOutcome = "scheduled" // a follow-up will fire
	gateCollapsed gateOutcome = "collapsed" // into the pending follow-up
)

// request asks for one reload of template ("" all). It never blocks; fire runs on
// the caller's goroutine (gateFired) or on a timer's.
func (g *reloadGate) request(template string) gateOutcome {
	g.mu.Lock()
	if g.pending[template] {
		g.mu.Unlock()
		return gateCollapsed
	}
	now := g.now()
	last, seen := g.last[template]
	if !seen || now.Sub(last) >= g.interval {
		g.last[template] = now
		g.mu.Unlock()
		g.fire(template)
		return gateFired
	}
	g.pending[template] = true
	g.mu.Unlock()
	g.after(last.Add(g.interval).Sub(now), func() {
		g.mu.Lock()
		delete(g.pending, template)
		g.last[template] = g.now()
		g.mu.Unlock()
		g.fire(template)
	})
	return gateScheduled
}
