package render

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
)

// A failed reload leaves the new file installed but not live: the status
// says so (state, pending, next retry), and the runner retries the reload
// on its own, backing off 1s, 2s, 4s, ... until it takes, with no
// membership change needed. Success clears it.
func TestRunner_FailedReloadIsReportedAndRetriedWithBackoff(t *testing.T) {
	f := newFixture(t, webCluster(), nil)
	f.be.set(nil, errors.New("haproxy master not running"))
	startRunner(t, f.r)

	st := statusOf(t, f.r, "web")
	start := f.clk.Now()
	if st.OK || st.State != StateReloadFailed || !st.ReloadPending || st.Installs != 1 ||
		!strings.Contains(st.Error, "master not running") || !st.NextReloadRetry.Equal(start.Add(ReloadRetryMin)) {
		t.Fatalf("after a failed reload: got %+v, want state %q, pending, 1 install, retry at +%s", st, StateReloadFailed, ReloadRetryMin)
	}
	if st.Hash != hashOf([]byte(readFile(t, f.dest))) {
		t.Errorf("status hash %s is not the installed file's", st.Hash)
	}

	// Each retry fails again and waits twice as long.
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		f.clk.Advance(wait)
		f.r.waitIdle()
		st = statusOf(t, f.r, "web")
		if want := f.clk.Now().Add(2 * wait); st.State != StateReloadFailed || !st.NextReloadRetry.Equal(want) {
			t.Fatalf("retry %d: got state %q, next retry %s; want %q at %s", i+1, st.State, st.NextReloadRetry, StateReloadFailed, want)
		}
		if st.Renders != uint64(i+2) {
			t.Errorf("retry %d: got %d renders, want %d (each retry is an attempt)", i+1, st.Renders, i+2)
		}
	}

	f.be.set(nil, nil)
	f.clk.Advance(8 * time.Second)
	f.r.waitIdle()
	st = statusOf(t, f.r, "web")
	if _, rl := f.be.counts(); rl != 1 || !st.OK || st.State != StateOK || st.ReloadPending || !st.NextReloadRetry.IsZero() || st.Reloads != 1 {
		t.Fatalf("after the reload took: %d reloads, status %+v; want 1 reload, state ok, nothing pending", rl, st)
	}
	// Nothing is pending any more: moving the clock past the cap retries
	// nothing.
	f.clk.Advance(ReloadRetryMax)
	f.r.waitIdle()
	if st := statusOf(t, f.r, "web"); st.Renders != 5 {
		t.Errorf("after success: got %d renders, want 5 (no further retries)", st.Renders)
	}
}

// The backoff doubles up to ReloadRetryMax and stays there.
func TestRunner_ReloadBackoffIsCapped(t *testing.T) {
	f := newFixture(t, webCluster(), nil)
	f.be.set(nil, errors.New("refused"))
	var ts tmplState
	var got []time.Duration
	for range 8 {
		f.r.reloadFailed(&ts)
		got = append(got, ts.backoff)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoffs: got %v, want %v seconds", got, want)
		}
	}
}

// deadlineBackend is a real command backend that records the deadline of
// the contexts the runner hands it.
type deadlineBackend struct {
	backends.Backend
	mu        sync.Mutex
	deadlines []bool // one per call: whether ctx had a deadline
}

func (d *deadlineBackend) note(ctx context.Context) {
	_, ok := ctx.Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, ok)
	d.mu.Unlock()
}

func (d *deadlineBackend) Validate(ctx context.Context, path string) error {
	d.note(ctx)
	return d.Backend.Validate(ctx, path)
}

func (d *deadlineBackend) Reload(ctx context.Context) error {
	d.note(ctx)
	return d.Backend.Reload(ctx)
}

// The runner puts no deadline of its own on backend calls: each backend's
// configured timeout (here 60s, above the 30s the runner used to impose)
// is the only bound.
func TestRunner_BackendTimeoutIsNotCapped(t *testing.T) {
	cmd, err := backends.NewCommand(backends.CommandConfig{
		Check: []string{"test", "-s", "{{path}}"}, Reload: []string{"true"}, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	be := &deadlineBackend{Backend: cmd}
	f := newFixture(t, webCluster(), func(c *Config) { c.Templates[0].Backend = be })
	startRunner(t, f.r)
	st := statusOf(t, f.r, "web")
	be.mu.Lock()
	defer be.mu.Unlock()
	if !st.OK || len(be.deadlines) != 2 {
		t.Fatalf("got status %+v and %d backend calls, want ok after a validate and a reload", st, len(be.deadlines))
	}
	for i, has := range be.deadlines {
		if has {
			t.Errorf("call %d had a deadline from the runner; want only the backend's own timeout", i+1)
		}
	}
}

// RenderWait returns once the forced render is done: its effects are in
// place when it returns, with no polling.
func TestRunner_RenderWaitReturnsWhenDone(t *testing.T) {
	f := newFixture(t, webCluster(), withWait(Wait{Min: time.Hour, Max: time.Hour}))
	// Asked before Run starts, it is done by Run's first loop.
	early := make(chan error, 1)
	go func() { early <- f.r.RenderWait(context.Background(), "web") }()
	startRunner(t, f.r)
	if err := <-early; err != nil {
		t.Fatalf("RenderWait before Run: %v", err)
	}
	if err := f.r.RenderWait(context.Background(), "nope"); err == nil {
		t.Errorf("RenderWait of an unknown template: got no error")
	}
	_, base := f.be.counts()
	forced := statusOf(t, f.r, "web").Forced
	for i := 1; i <= 3; i++ {
		if err := f.r.RenderWait(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		if _, rl := f.be.counts(); rl != base+i {
			t.Fatalf("RenderWait returned with %d reloads done, want %d", rl, base+i)
		}
		if st := statusOf(t, f.r, "web"); st.Forced != forced+uint64(i) {
			t.Fatalf("RenderWait returned with %d forced renders recorded, want %d", st.Forced, forced+uint64(i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.r.RenderWait(ctx, "web"); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("RenderWait with a cancelled context: got %v, want nil or context.Canceled", err)
	}
}
