// Package debounce holds shoal's one rule for turning a burst of changes
// into one action: after a change, wait until nothing has changed for Min,
// but never longer than Max after the first change. Templates render with
// it (consul-template's wait { min max }) and handler scripts get member
// events batched with it (Serf's quiescent and coalesce periods).
package debounce

import "time"

// Window is the wait: Min of quiet, Max at most after the first change.
// Min 0 acts at once; Max 0 means no bound beyond Min.
type Window struct {
	Min, Max time.Duration
}

// State tracks one pending batch of changes. It is a plain state machine
// over times handed in by its caller, so it is tested without any clock.
type State struct {
	Window  Window
	pending bool
	first   time.Time // first change of the pending batch
	last    time.Time // latest change
	urgent  bool      // act without waiting for Min
}

// Change records a change seen at now. An urgent change skips the Min
// wait (a backend that is gone must leave the pool now, not after the
// cluster settles).
func (s *State) Change(now time.Time, urgent bool) {
	if !s.pending {
		s.pending, s.first = true, now
	}
	s.last = now
	s.urgent = s.urgent || urgent
}

// Due returns when the pending batch should be acted on, and false if
// nothing is pending.
func (s *State) Due() (time.Time, bool) {
	if !s.pending {
		return time.Time{}, false
	}
	if s.urgent {
		return s.last, true
	}
	at := s.last.Add(s.Window.Min)
	if s.Window.Max > 0 {
		if limit := s.first.Add(s.Window.Max); limit.Before(at) {
			at = limit
		}
	}
	return at, true
}

// Done clears the pending batch once it was acted on.
func (s *State) Done() { *s = State{Window: s.Window} }
