package debounce

import (
	"testing"
	"time"
)

// simulate feeds changes at the given offsets into a State and returns the
// offsets at which it acts, checking due times the way the loops do (at
// every change and at every due time).
func simulate(w Window, changes []time.Duration, urgent map[int]bool) []time.Duration {
	q := State{Window: w}
	var acts []time.Duration
	fire := func(now time.Duration) {
		for {
			at, ok := q.Due()
			if !ok || time.Duration(at.UnixNano()) > now {
				return
			}
			acts = append(acts, time.Duration(at.UnixNano()))
			q.Done()
		}
	}
	for i, c := range changes {
		// Before this change arrives, act on whatever fell due.
		if at, ok := q.Due(); ok && time.Duration(at.UnixNano()) <= c {
			fire(time.Duration(at.UnixNano()))
		}
		q.Change(time.Unix(0, int64(c)), urgent[i])
		fire(c)
	}
	fire(time.Hour)
	return acts
}

func TestState(t *testing.T) {
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
		wait    Window
		changes []time.Duration
		urgent  map[int]bool
		want    []time.Duration
	}{
		{"one change waits min", Window{500 * ms, 5000 * ms}, []time.Duration{0}, nil, []time.Duration{500 * ms}},
		{"quiet burst acts once", Window{500 * ms, 5000 * ms}, burst(100, 10*ms), nil, []time.Duration{1500 * ms}},
		{"long burst is cut by max", Window{500 * ms, 5000 * ms}, burst(100, 60*ms), nil, []time.Duration{5060 * ms, 6500 * ms}},
		{"no min acts at once", Window{}, []time.Duration{0, 10 * ms}, nil, []time.Duration{0, 10 * ms}},
		{"Serf's agent periods: quiescent 1s, coalesce 3s", Window{1000 * ms, 3000 * ms}, burst(5, 900*ms), nil, []time.Duration{3900 * ms, 5500 * ms}},
		{"urgent skips min", Window{500 * ms, 5000 * ms}, []time.Duration{0, 100 * ms}, map[int]bool{1: true}, []time.Duration{100 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simulate(tc.wait, tc.changes, tc.urgent)
			if len(got) != len(tc.want) {
				t.Fatalf("acts at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("acts at %v, want %v", got, tc.want)
				}
			}
		})
	}
}
