package node

import "sync"

// seenRing de-duplicates gossip by Lamport time, for user events and
// queries alike. It remembers what it saw at each of the last len(slots)
// times in a ring indexed by time modulo its size; anything older than the
// ring, or than minTime (set by a join without replay or a restart), is
// refused.
type seenRing[T any] struct {
	mu      sync.Mutex
	slots   []*seenSlot[T]
	minTime LamportTime
}

type seenSlot[T any] struct {
	ltime LamportTime
	items []T
}

func newSeenRing[T any](size int) seenRing[T] {
	return seenRing[T]{slots: make([]*seenSlot[T], size)}
}

func (r *seenRing[T]) raiseMinTime(t LamportTime) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t > r.minTime {
		r.minTime = t
	}
}

// windowStart is the oldest time a de-duplication window of size ending
// at clock still covers.
func windowStart(clock LamportTime, size int) LamportTime {
	if s := LamportTime(size); clock >= s {
		return clock - s + 1
	}
	return 0
}

type admission uint8

const (
	admitted admission = iota
	duplicate
	beforeMinTime
	tooOld
)

// admit records item at ltime and reports whether it is new. now is the
// clock after witnessing ltime; same tells a repeat of item.
func (r *seenRing[T]) admit(ltime, now LamportTime, item T, same func(T) bool) admission {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ltime < r.minTime {
		return beforeMinTime
	}
	if ltime < windowStart(now, len(r.slots)) {
		return tooOld
	}
	idx := ltime % LamportTime(len(r.slots))
	slot := r.slots[idx]
	if slot == nil || slot.ltime != ltime {
		slot = &seenSlot[T]{ltime: ltime}
		r.slots[idx] = slot
	}
	for _, seen := range slot.items {
		if same(seen) {
			return duplicate
		}
	}
	slot.items = append(slot.items, item)
	return admitted
}

// all returns every remembered item.
func (r *seenRing[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, slot := range r.slots {
		if slot != nil {
			out = append(out, slot.items...)
		}
	}
	return out
}

// settled reports whether nothing more is to be expected at ltime: an item
// that is the one waited for (match) was seen there, or ltime is before
// minTime or older than the ring, so it would be refused. now is the
// current clock.
func (r *seenRing[T]) settled(ltime, now LamportTime, match func(T) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ltime < r.minTime || ltime < windowStart(now, len(r.slots)) {
		return true
	}
	slot := r.slots[ltime%LamportTime(len(r.slots))]
	if slot == nil || slot.ltime != ltime {
		return false
	}
	for _, item := range slot.items {
		if match(item) {
			return true
		}
	}
	return false
}
