package render

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// recApplier is a recBackend that can also apply changes at runtime: it
// records what the pipeline asks of it and answers as told. It tests when
// the pipeline applies and when it reloads; what Apply does to a real
// haproxy is tested in runtime_test.go and in package backends.
type recApplier struct {
	recBackend
	amu        sync.Mutex
	verdict    bool
	applies    [][2]string // running, candidate
	hints      []backends.ApplyHints
	reconciles []string // installed
}

var _ backends.RuntimeApplier = (*recApplier)(nil)

const reconcileEvery = 30 * time.Second

func (b *recApplier) Apply(_ context.Context, running, candidate []byte, hints backends.ApplyHints) (bool, error) {
	b.amu.Lock()
	defer b.amu.Unlock()
	b.applies = append(b.applies, [2]string{string(running), string(candidate)})
	b.hints = append(b.hints, hints)
	if !b.verdict {
		return false, errors.New("structure: told to decline")
	}
	return true, nil
}

func (b *recApplier) Reconcile(_ context.Context, installed []byte) (string, error) {
	b.amu.Lock()
	defer b.amu.Unlock()
	b.reconciles = append(b.reconciles, string(installed))
	return "", nil
}

func (b *recApplier) NextReconcile() time.Duration { return reconcileEvery }

func (b *recApplier) setVerdict(v bool) {
	b.amu.Lock()
	defer b.amu.Unlock()
	b.verdict = v
}

func (b *recApplier) calls() (applies [][2]string, reconciles []string) {
	b.amu.Lock()
	defer b.amu.Unlock()
	return append([][2]string(nil), b.applies...), append([]string(nil), b.reconciles...)
}

func newApplierFixture(t *testing.T) (*fixture, *recApplier) {
	t.Helper()
	ra := &recApplier{verdict: true}
	f := newFixture(t, webCluster(), func(c *Config) { c.Templates[0].Backend = ra })
	startRunner(t, f.r)
	return f, ra
}

// The first install reloads (nothing runs from an earlier file); a change
// after that is applied, with the installed file as running; a change the
// backend declines reloads.
func TestRunner_AppliesInsteadOfReloading(t *testing.T) {
	f, ra := newApplierFixture(t)
	first := readFile(t, f.dest)
	if applies, _ := ra.calls(); len(applies) != 0 {
		t.Fatalf("first install: %d applies, want none", len(applies))
	}
	if _, rl := ra.counts(); rl != 1 {
		t.Fatalf("first install: %d reloads, want 1", rl)
	}

	s := webCluster()
	s.Version = 2
	s.Members = append(s.Members, member("web4", 14, svc("web", 8080, 1)))
	f.change(s)
	applies, _ := ra.calls()
	if len(applies) != 1 || applies[0][0] != first || applies[0][1] != readFile(t, f.dest) {
		t.Fatalf("applies %q, want one from the first file to the installed one", applies)
	}
	st := statusOf(t, f.r, "web")
	if _, rl := ra.counts(); rl != 1 || st.Applied != 1 || st.Reloads != 1 || st.Installs != 2 || !st.OK {
		t.Fatalf("after an applied change: reloads %d, status %+v; want 1 reload, 1 applied, 2 installs", rl, st)
	}

	ra.setVerdict(false)
	s.Version = 3
	s.Members = s.Members[:len(s.Members)-1]
	f.change(s)
	st = statusOf(t, f.r, "web")
	if _, rl := ra.counts(); rl != 2 || st.Applied != 1 || st.Reloads != 2 || !st.OK {
		t.Fatalf("after a declined change: reloads %d, status %+v; want 2 reloads, still 1 applied", rl, st)
	}
}

// RenderNow asks for a reload: the pipeline reloads and does not apply.
// After a failed reload the load balancer may not run the installed file:
// the next change reloads too.
func TestRunner_ReloadWhenAskedOrPending(t *testing.T) {
	f, ra := newApplierFixture(t)
	if err := f.r.RenderNow("web"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if st := statusOf(t, f.r, "web"); st.Forced != 1 {
			return errors.New("forced render not done yet")
		}
		return nil
	})
	if applies, _ := ra.calls(); len(applies) != 0 {
		t.Fatalf("RenderNow: %d applies, want none", len(applies))
	}

	ra.setVerdict(false)
	ra.set(nil, errors.New("master not running"))
	s := webCluster()
	s.Version = 2
	s.Members = append(s.Members, member("web4", 14, svc("web", 8080, 1)))
	f.change(s)
	if st := statusOf(t, f.r, "web"); st.OK || !strings.Contains(st.Error, "master not running") {
		t.Fatalf("status %+v, want the reload failure", st)
	}

	ra.setVerdict(true)
	ra.set(nil, nil)
	s.Version = 3
	s.Members = s.Members[:len(s.Members)-1]
	f.change(s)
	if applies, _ := ra.calls(); len(applies) != 1 {
		t.Fatalf("with a reload pending: %d applies, want only the one before", len(applies))
	}
	if st := statusOf(t, f.r, "web"); !st.OK || st.Applied != 0 {
		t.Fatalf("status %+v, want the change reloaded, nothing applied", st)
	}
}

// The backend's reconcile runs on the runner's clock with the installed
// file.
func TestRunner_ReconcilesOnSchedule(t *testing.T) {
	f, ra := newApplierFixture(t)
	if _, rec := ra.calls(); len(rec) != 0 {
		t.Fatalf("%d reconciles before the interval, want none", len(rec))
	}
	f.clk.Advance(reconcileEvery)
	f.r.waitIdle()
	_, rec := ra.calls()
	if len(rec) != 1 || rec[0] != readFile(t, f.dest) {
		t.Fatalf("reconciles %q, want one with the installed file", rec)
	}
	f.clk.Advance(reconcileEvery - time.Second)
	f.r.waitIdle()
	if _, rec := ra.calls(); len(rec) != 1 {
		t.Fatalf("%d reconciles before the next interval, want 1", len(rec))
	}
	f.clk.Advance(time.Second)
	f.r.waitIdle()
	if _, rec := ra.calls(); len(rec) != 2 {
		t.Fatalf("%d reconciles after two intervals, want 2", len(rec))
	}
}
