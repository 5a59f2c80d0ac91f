package handlers

import (
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/node"
)

// Member events reach handler scripts in batches, as Serf's agent sends
// them (serf/coalesce.go, coalesce_member.go, with the agent's periods):
// a batch ends after QuiescentPeriod without a member event, or
// CoalescePeriod after its first one, whichever is sooner. Of a batch, each
// member counts once, with its newest event, and each event type then runs
// a script once, with one stdin line per member. A member whose newest
// event is the one it was last sent in is left out (it joined, failed and
// rejoined: still joined), except for member-update.

// Serf's agent periods (cmd/serf/command/agent/command.go).
const (
	DefaultMemberQuiescentPeriod = time.Second
	DefaultMemberCoalescePeriod  = 3 * time.Second
)

// memberBatch is the batching state: plain, over times handed in, so it is
// tested without a clock.
type memberBatch struct {
	wait   debounce.State
	latest map[string]node.MemberEvent // one member each, newest event first
	sent   map[string]node.EventType   // the event each member was last sent in
}

func newMemberBatch(w debounce.Window) *memberBatch {
	return &memberBatch{wait: debounce.State{Window: w},
		latest: map[string]node.MemberEvent{}, sent: map[string]node.EventType{}}
}

// add records e, seen at now.
func (b *memberBatch) add(now time.Time, e *node.MemberEvent) {
	for _, m := range e.Members {
		b.latest[m.Name] = node.MemberEvent{Type: e.Type, Members: []node.Member{m}}
	}
	b.wait.Change(now, false)
}

// flush returns the batch as one event per type, in type order, members
// sorted by name, and starts a new batch.
func (b *memberBatch) flush() []*node.MemberEvent {
	byType := map[node.EventType]*node.MemberEvent{}
	for name, e := range b.latest {
		if prev, ok := b.sent[name]; ok && prev == e.Type && e.Type != node.EventMemberUpdate {
			continue
		}
		b.sent[name] = e.Type
		if e.Type == node.EventMemberReap {
			// Gone for good: a name that comes back starts afresh, and
			// the map stays as small as the membership.
			delete(b.sent, name)
		}
		out := byType[e.Type]
		if out == nil {
			out = &node.MemberEvent{Type: e.Type}
			byType[e.Type] = out
		}
		out.Members = append(out.Members, e.Members[0])
	}
	clear(b.latest)
	b.wait.Done()
	events := make([]*node.MemberEvent, 0, len(byType))
	for _, e := range byType {
		sort.Slice(e.Members, func(i, j int) bool { return e.Members[i].Name < e.Members[j].Name })
		events = append(events, e)
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Type < events[j].Type })
	return events
}

// coalescer feeds a memberBatch from Handle and flushes it from its own
// loop, so Handle never waits.
type coalescer struct {
	clock debounce.Clock
	wake  chan struct{}      // capacity 1: a member event arrived
	idle  chan chan struct{} // tests: closed once the loop caught up

	mu     sync.Mutex
	batch  *memberBatch
	health *healthBatch // health.go
}

func newCoalescer(w debounce.Window, clock debounce.Clock) *coalescer {
	return &coalescer{clock: clock, wake: make(chan struct{}, 1), idle: make(chan chan struct{}),
		batch: newMemberBatch(w), health: newHealthBatch(w)}
}

func (c *coalescer) add(e *node.MemberEvent) {
	c.mu.Lock()
	c.batch.add(c.clock.Now(), e)
	if e.Type == node.EventMemberReap {
		for _, m := range e.Members {
			c.health.forget(m.Name)
		}
	}
	c.mu.Unlock()
	c.poke()
}

func (c *coalescer) addHealth(e *node.HealthEvent) {
	c.mu.Lock()
	c.health.add(c.clock.Now(), e)
	c.mu.Unlock()
	c.poke()
}

func (c *coalescer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// due returns the batches due at now (member events, then health), and
// when the next pending one is.
func (c *coalescer) due(now time.Time) (flushed []node.Event, next time.Time, pending bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.batch.wait.Due(); ok && !at.After(now) {
		for _, e := range c.batch.flush() {
			flushed = append(flushed, e)
		}
	}
	if at, ok := c.health.wait.Due(); ok && !at.After(now) {
		if b := c.health.flush(); b != nil {
			flushed = append(flushed, b)
		}
	}
	next, pending = c.batch.wait.Due()
	if at, ok := c.health.wait.Due(); ok && (!pending || at.Before(next)) {
		next, pending = at, true
	}
	return flushed, next, pending
}

// loop hands each due batch to dispatch until done closes.
func (c *coalescer) loop(done <-chan struct{}, dispatch func(node.Event)) {
	var timer debounce.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var idle chan struct{}
	for {
		flushed, next, pending := c.due(c.clock.Now())
		for _, e := range flushed {
			dispatch(e)
		}
		if timer != nil {
			timer.Stop()
		}
		var timerC <-chan time.Time
		if pending {
			timer = c.clock.NewTimer(next.Sub(c.clock.Now()))
			timerC = timer.C()
		}
		// After the timer is armed, so a test may advance the clock.
		if idle != nil {
			close(idle)
			idle = nil
		}
		select {
		case <-done:
			return
		case <-c.wake:
		case <-timerC:
		case idle = <-c.idle:
		}
	}
}

// waitIdle returns once the loop has flushed what is due at the clock's
// current time and armed its timer. Tests use it with a fake clock.
func (c *coalescer) waitIdle() {
	ch := make(chan struct{})
	c.idle <- ch
	<-ch
}
