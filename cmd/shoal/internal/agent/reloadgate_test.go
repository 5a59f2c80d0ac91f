package agent

import (
	"sort"
	"testing"
	"time"
)

// stepClock is a fake clock for the gate: timers fire only when the test
// advances time past them.
type stepClock struct {
	now    time.Time
	timers []stepTimer
}

type stepTimer struct {
	at time.Time
	f  func()
}

func (c *stepClock) after(d time.Duration, f func()) {
	c.timers = append(c.timers, stepTimer{at: c.now.Add(d), f: f})
}

// advance moves time forward by d, firing due timers in order.
func (c *stepClock) advance(d time.Duration) {
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		t.f()
	}
	c.now = end
}

type fired struct {
	template string
	at       time.Time
}

func newTestGate(interval time.Duration) (*reloadGate, *stepClock, *[]fired) {
	clock := &stepClock{now: time.Unix(1_000_000, 0)}
	var got []fired
	g := newReloadGate(interval, func(t string) { got = append(got, fired{t, clock.now}) })
	g.now = func() time.Time { return clock.now }
	g.after = clock.after
	return g, clock, &got
}

func TestReloadGate_BurstIsOneNowAndOneFollowUp(t *testing.T) {
	g, clock, got := newTestGate(time.Second)
	start := clock.now
	outcomes := map[gateOutcome]int{}
	for i := 0; i < 1000; i++ {
		outcomes[g.request("web")]++
	}
	if outcomes[gateFired] != 1 || outcomes[gateScheduled] != 1 || outcomes[gateCollapsed] != 998 {
		t.Errorf("outcomes of 1,000 requests at once: got %v, want 1 fired, 1 scheduled, 998 collapsed", outcomes)
	}
	if len(*got) != 1 || (*got)[0].at != start {
		t.Fatalf("reloads at once: got %v, want 1 at the start", *got)
	}
	clock.advance(999 * time.Millisecond)
	if len(*got) != 1 {
		t.Fatalf("reloads before the interval passed: got %d, want 1", len(*got))
	}
	clock.advance(time.Millisecond)
	if len(*got) != 2 || (*got)[1].at != start.Add(time.Second) {
		t.Fatalf("reloads after the interval: got %v, want the follow-up at start+1s", *got)
	}
	clock.advance(time.Hour)
	if len(*got) != 2 {
		t.Errorf("reloads after a quiet hour: got %d, want 2", len(*got))
	}
	// After a quiet interval a request fires at once again.
	if out := g.request("web"); out != gateFired || len(*got) != 3 {
		t.Errorf("request after a quiet interval: got %s and %d reloads, want fired and 3", out, len(*got))
	}
}

// TestReloadGate_FloodIsBounded: 1,000 requests spread over 10 s reload
// once at the start and once per interval after: 11 times, spaced by at
// least the interval.
func TestReloadGate_FloodIsBounded(t *testing.T) {
	g, clock, got := newTestGate(time.Second)
	for i := 0; i < 1000; i++ {
		g.request("web")
		clock.advance(10 * time.Millisecond)
	}
	clock.advance(time.Hour)
	if n := len(*got); n != 11 {
		t.Errorf("reloads for 1,000 requests over 10s: got %d, want 11", n)
	}
	for i := 1; i < len(*got); i++ {
		if gap := (*got)[i].at.Sub((*got)[i-1].at); gap < time.Second {
			t.Errorf("reload %d came %v after the previous, want at least 1s", i, gap)
		}
	}
}

// TestReloadGate_PerTarget: targets are gated apart; one template's flood
// does not delay another's reload.
func TestReloadGate_PerTarget(t *testing.T) {
	g, clock, got := newTestGate(time.Second)
	for i := 0; i < 100; i++ {
		g.request("web")
	}
	if out := g.request("api"); out != gateFired {
		t.Errorf("first request for another template during a flood: got %s, want fired", out)
	}
	if out := g.request(""); out != gateFired {
		t.Errorf("first request for all templates during a flood: got %s, want fired", out)
	}
	clock.advance(time.Hour)
	count := map[string]int{}
	for _, f := range *got {
		count[f.template]++
	}
	if count["web"] != 2 || count["api"] != 1 || count[""] != 1 {
		t.Errorf("reloads by target: got %v, want web 2, api 1, all 1", count)
	}
}
