package render

import "time"

// Wait is a template's quiescence window, as in consul-template: after a
// change, wait until nothing has changed for Min, but never longer than Max
// after the first change, so a burst of joins renders once and a cluster
// that never settles still renders every Max. Min 0 renders at once.
// Max 0 means no upper bound beyond Min.
type Wait struct {
	Min, Max time.Duration
}

// quiescence tracks the pending change of one template. It is a plain state
// machine over times handed in by the runner, so it is tested without any
// clock at all.
type quiescence struct {
	wait    Wait
	pending bool
	first   time.Time // first change of the pending batch
	last    time.Time // latest change
	urgent  bool      // render without waiting for Min
}

// change records a change seen at now. urgent changes (an instance went
// away) skip the Min wait: a backend that is gone must leave the pool now,
// not after the cluster settles.
func (q *quiescence) change(now time.Time, urgent bool) {
	if !q.pending {
		q.pending, q.first = true, now
	}
	q.last = now
	q.urgent = q.urgent || urgent
}

// due returns when the pending change should render, and false if nothing
// is pending.
func (q *quiescence) due() (time.Time, bool) {
	if !q.pending {
		return time.Time{}, false
	}
	if q.urgent {
		return q.last, true
	}
	at := q.last.Add(q.wait.Min)
	if q.wait.Max > 0 {
		if limit := q.first.Add(q.wait.Max); limit.Before(at) {
			at = limit
		}
	}
	return at, true
}

// done clears the pending change after a render.
func (q *quiescence) done() { *q = quiescence{wait: q.wait} }
