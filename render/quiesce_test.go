package render

import (
	"testing"
	"time"
)

// simulate feeds changes at the given offsets into a quiescence window and
// returns the offsets at which it renders, checking due times the way the
// runner does (at every change and at every due time).
func simulate(w Wait, changes []time.Duration, urgent map[int]bool) []time.Duration {
	q := quiescence{wait: w}
	var renders []time.Duration
	fire := func(now time.Duration) {
		for {
			at, ok := q.due()
			if !ok || time.Duration(at.UnixNano()) > now {
				return
			}
			renders = append(renders, time.Duration(at.UnixNano()))
			q.done()
		}
	}
	for i, c := range changes {
		// Before this change arrives, render whatever fell due.
		if at, ok := q.due(); ok && time.Duration(at.UnixNano()) <= c {
			fire(time.Duration(at.UnixNano()))
		}
		q.change(time.Unix(0, int64(c)), urgent[i])
		fire(c)
	}
	fire(time.Hour)
	return renders
}

func TestQuiescence(t *testing.T) {
	ms := time.Millisecond
	burst := func(n int, every time.Duration) []time.Duration {
		var out []time.Duration
		for i := 1; i <= n; i++ {
			out = append(out, time.Duration(i)*every)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		wait    Wait
		changes []time.Duration
		urgent  map[int]bool
		want    []time.Duration
	}{
		{"one change waits min", Wait{500 * ms, 5000 * ms}, []time.Duration{0}, nil, []time.Duration{500 * ms}},
		{"quiet burst renders once", Wait{500 * ms, 5000 * ms}, burst(100, 10*ms), nil, []time.Duration{1500 * ms}},
		{"long burst is cut by max", Wait{500 * ms, 5000 * ms}, burst(100, 60*ms), nil, []time.Duration{5060 * ms, 6500 * ms}},
		{"no min renders at once", Wait{}, []time.Duration{0, 10 * ms}, nil, []time.Duration{0, 10 * ms}},
		{"urgent skips min", Wait{500 * ms, 5000 * ms}, []time.Duration{0, 100 * ms}, map[int]bool{1: true}, []time.Duration{100 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(tc.wait, tc.changes, tc.urgent)
			if len(got) != len(tc.want) {
				t.Fatalf("renders at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("renders at %v, want %v", got, tc.want)
				}
			}
		})
	}
}
