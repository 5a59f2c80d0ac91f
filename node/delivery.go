package node

import (
	"bytes"
	"container/heap"
	"time"
)

// delivery hands user events to subscribers in Lamport order and
// coalesces those that ask for it. Gossip delivers messages in any order
// (memberlist sends the newest first), so each event waits EventOrderWindow
// in a heap ordered by Lamport time; older events that arrive within the
// window overtake it.
type delivery struct {
	n  *Node
	in chan *UserEvent
}

func newDelivery(n *Node) *delivery {
	return &delivery{n: n, in: make(chan *UserEvent, 1024)}
}

// add never blocks: a full queue drops the event and counts it.
func (d *delivery) add(ev *UserEvent) {
	select {
	case d.in <- ev:
	default:
		d.n.stats.droppedEvents.Add(1)
		d.n.logger.Warn("user event queue is full; event dropped", "event", ev.Name)
	}
}

type pendingEvent struct {
	ev      *UserEvent
	release time.Time
}

type eventHeap []pendingEvent

func (h eventHeap) Len() int { return len(h) }

// Less orders by Lamport time; concurrent events (equal times, from
// different nodes) are ordered by name and payload, so every node delivers
// them in the same order.
func (h eventHeap) Less(i, j int) bool {
	a, b := h[i].ev, h[j].ev
	if a.LTime != b.LTime {
		return a.LTime < b.LTime
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return bytes.Compare(a.Payload, b.Payload) < 0
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(pendingEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// coalescing holds the newest event of one name.
type coalescing struct {
	latest      *UserEvent
	first, last time.Time
}

func (d *delivery) run() {
	defer d.n.wg.Done()
	cfg := d.n.cfg
	var pending eventHeap
	coalesced := map[string]*coalescing{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		// Release, in Lamport order, every event whose window has passed.
		for len(pending) > 0 && !pending[0].release.After(now) {
			ev := heap.Pop(&pending).(pendingEvent).ev
			if ev.Coalesce && cfg.CoalescePeriod > 0 {
				c := coalesced[ev.Name]
				if c == nil {
					c = &coalescing{first: now}
					coalesced[ev.Name] = c
				}
				if c.latest == nil || ev.LTime > c.latest.LTime {
					c.latest = ev
				}
				c.last = now
				continue
			}
			d.n.publish(ev)
		}
		next := now.Add(time.Hour)
		for name, c := range coalesced {
			due := c.last.Add(cfg.QuiescentPeriod)
			if max := c.first.Add(cfg.CoalescePeriod); max.Before(due) {
				due = max
			}
			if !due.After(now) {
				d.n.publish(c.latest)
				delete(coalesced, name)
				continue
			}
			if due.Before(next) {
				next = due
			}
		}
		if len(pending) > 0 && pending[0].release.Before(next) {
			next = pending[0].release
		}
		timer.Reset(time.Until(next))
		select {
		case <-d.n.shutdownCh:
			return
		case ev := <-d.in:
			heap.Push(&pending, pendingEvent{ev: ev, release: time.Now().Add(cfg.EventOrderWindow)})
		case <-timer.C:
		}
	}
}
