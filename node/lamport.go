package node

import "sync/atomic"

// LamportTime is a logical clock value.
type LamportTime uint64

// lamportClock is a thread-safe Lamport clock.
type lamportClock struct{ counter atomic.Uint64 }

// Time returns the current value.
func (l *lamportClock) Time() LamportTime { return LamportTime(l.counter.Load()) }

// Increment advances the clock and returns the new value.
func (l *lamportClock) Increment() LamportTime { return LamportTime(l.counter.Add(1)) }

// Witness moves the clock past v, so the next local event orders after it.
func (l *lamportClock) Witness(v LamportTime) {
	for {
		cur := l.counter.Load()
		if uint64(v) < cur {
			return
		}
		if l.counter.CompareAndSwap(cur, uint64(v)+1) {
			return
		}
	}
}
