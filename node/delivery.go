package node

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
)

// The user-event contract, and why.
//
// Serf hands a user event to its subscribers the moment it first arrives
// and promises no order. shoal does the same, with one addition that costs
// nothing on the common path: the events of one sender reach every
// subscriber in the order they were sent.
//
// Each event carries the Lamport time of its sender's previous event
// (Prev). An event whose predecessor has been delivered, or can no longer
// arrive (older than the de-duplication window, or from before this node
// joined), is delivered at once, inside the call that received it. Only an
// event that overtook its predecessor is held, until the predecessor
// arrives (then both go, in order) or EventOrderWindow passes (then it goes
// alone). Overtaking happens when gossip packs a burst newest first, when
// memberlist's LIFO hand-off queue reverses a packet, or when a packet is
// lost; the first two reorder events that arrive together, so holding them
// delays nothing. Events of different senders are not ordered against each
// other: that would need waiting on every event, which is the delay this
// design exists to remove.
//
// The sender's own event reaches its own subscribers before UserEvent
// returns. Coalescing events then wait in the coalescer, as before.
type delivery struct {
	n *Node

	// mu makes admission (de-duplication) and delivery one step, so an
	// event the de-duplication ring has seen is either delivered or held.
	mu sync.Mutex
	// waiting holds overtaking events by the event they wait for;
	// holding counts held events by their own key, so an event whose
	// predecessor is itself held queues behind it. Keys name the sender:
	// events of different senders can share a Lamport time.
	waiting map[eventKey][]*heldEvent
	holding map[eventKey]int
	held    int
	wake    chan struct{} // capacity 1: run re-arms its timer

	coalesce chan *UserEvent
}

type heldEvent struct {
	ev     *UserEvent
	origin string
	prev   LamportTime
	until  time.Time
}

// eventKey is one sender's event at one Lamport time.
type eventKey struct {
	origin string
	ltime  LamportTime
}

// maxHeldEvents bounds the events held for order; past it, an overtaking
// event is delivered at once.
const maxHeldEvents = 1024

func newDelivery(n *Node) *delivery {
	return &delivery{
		n:        n,
		waiting:  map[eventKey][]*heldEvent{},
		holding:  map[eventKey]int{},
		wake:     make(chan struct{}, 1),
		coalesce: make(chan *UserEvent, 1024),
	}
}

// offer admits msg and delivers or holds it. It reports whether msg was
// new, that is whether to gossip it on.
func (d *delivery) offer(msg *userEventMsg) bool {
	n := d.n
	d.mu.Lock()
	defer d.mu.Unlock()
	switch n.events.admit(msg.LTime, n.eventClock.Time(), *msg, msg.sameEvent) {
	case duplicate, beforeMinTime:
		return false
	case tooOld:
		n.logger.Debug("user event too old to de-duplicate; dropped", "event", msg.Name, "ltime", msg.LTime)
		return false
	}
	n.stats.userEvents.Add(1)
	ev := &UserEvent{LTime: msg.LTime, Name: msg.Name, Payload: msg.Payload, Coalesce: msg.Coalesce}
	// A predecessor at or after the event itself is nonsense; don't wait for it.
	if msg.Prev >= msg.LTime || d.ready(msg.Origin, msg.Prev) || d.held >= maxHeldEvents {
		d.deliverLocked(ev, msg.Origin)
		return true
	}
	h := &heldEvent{ev: ev, origin: msg.Origin, prev: msg.Prev, until: time.Now().Add(n.cfg.EventOrderWindow)}
	prev := eventKey{msg.Origin, msg.Prev}
	d.waiting[prev] = append(d.waiting[prev], h)
	d.holding[eventKey{msg.Origin, ev.LTime}]++
	d.held++
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

// ready reports whether an event whose sender's previous event is at prev
// may go now: prev is none, delivered, or can no longer arrive.
func (d *delivery) ready(origin string, prev LamportTime) bool {
	if prev == 0 {
		return true
	}
	if d.holding[eventKey{origin, prev}] > 0 {
		return false
	}
	return d.n.events.settled(prev, d.n.eventClock.Time(), func(e userEventMsg) bool { return e.Origin == origin })
}

// deliverLocked delivers ev and then every held event that waited for it,
// transitively, in order.
func (d *delivery) deliverLocked(ev *UserEvent, origin string) {
	queue := []*heldEvent{{ev: ev, origin: origin}}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		d.emit(h.ev)
		key := eventKey{h.origin, h.ev.LTime}
		for _, next := range d.waiting[key] {
			d.unhold(next)
			queue = append(queue, next)
		}
		delete(d.waiting, key)
	}
}

func (d *delivery) unhold(h *heldEvent) {
	key := eventKey{h.origin, h.ev.LTime}
	if d.holding[key]--; d.holding[key] <= 0 {
		delete(d.holding, key)
	}
	d.held--
}

// emit hands ev to the subscribers, or to the coalescer. It never blocks.
func (d *delivery) emit(ev *UserEvent) {
	if !ev.Coalesce || d.n.cfg.CoalescePeriod <= 0 || d.n.cfg.QuiescentPeriod <= 0 {
		d.n.publish(ev)
		return
	}
	select {
	case d.coalesce <- ev:
	default:
		d.n.stats.droppedEvents.Add(1)
		d.n.logger.Warn("user event coalescing queue is full; event dropped", "event", ev.Name)
	}
}

// expire delivers, in Lamport order, every held event whose window has
// passed, and returns when the next one's window ends (zero if none).
func (d *delivery) expire(now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var due []*heldEvent
	var next time.Time
	for prev, hs := range d.waiting {
		kept := hs[:0]
		for _, h := range hs {
			if !h.until.After(now) {
				due = append(due, h)
				continue
			}
			kept = append(kept, h)
			if next.IsZero() || h.until.Before(next) {
				next = h.until
			}
		}
		if len(kept) == 0 {
			delete(d.waiting, prev)
		} else {
			d.waiting[prev] = kept
		}
	}
	slices.SortFunc(due, func(a, b *heldEvent) int { return cmp.Compare(a.ev.LTime, b.ev.LTime) })
	for _, h := range due {
		d.unhold(h)
		d.n.logger.Debug("user event's predecessor did not arrive in time; delivered without it",
			"event", h.ev.Name, "ltime", h.ev.LTime, "waited_for", h.prev)
		d.deliverLocked(h.ev, h.origin)
	}
	return next
}

// coalescing holds the newest event of one name, and when to publish it:
// QuiescentPeriod after the last event of the name, at most CoalescePeriod
// after the first (internal/debounce, the rule render and handler scripts
// batch with too).
type coalescing struct {
	latest *UserEvent
	q      debounce.State
}

// run releases held events at the end of their window and coalesces the
// events that ask for it.
func (d *delivery) run() {
	defer d.n.wg.Done()
	cfg := d.n.cfg
	window := debounce.Window{Min: cfg.QuiescentPeriod, Max: cfg.CoalescePeriod}
	coalesced := map[string]*coalescing{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		next := now.Add(time.Hour)
		if due := d.expire(now); !due.IsZero() {
			next = due
		}
		for name, c := range coalesced {
			due, _ := c.q.Due()
			if !due.After(now) {
				d.n.publish(c.latest)
				delete(coalesced, name)
				continue
			}
			if due.Before(next) {
				next = due
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-d.n.shutdownCh:
			return
		case ev := <-d.coalesce:
			c := coalesced[ev.Name]
			if c == nil {
				c = &coalescing{q: debounce.State{Window: window}}
				coalesced[ev.Name] = c
			}
			if c.latest == nil || ev.LTime > c.latest.LTime {
				c.latest = ev
			}
			c.q.Change(time.Now(), false)
		case <-d.wake:
		case <-timer.C:
		}
	}
}
