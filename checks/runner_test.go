package checks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// startRunner runs r until the test ends, and waits for Run to return.
func startRunner(t *testing.T, r *Runner) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	// t.Context is cancelled just before Cleanup functions run.
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func waitStatus(t *testing.T, r *Runner, id string, want node.Health, wantNote string) Result {
	t.Helper()
	var res Result
	testutil.WaitFor(t, 20*time.Second, func() error {
		var ok bool
		res, ok = r.Result(id)
		if !ok || res.Status != want || !strings.Contains(res.Note, wantNote) {
			return fmt.Errorf("check %s: got %s %q (present %v), want %s %q", id, res.Status, res.Note, ok, want, wantNote)
		}
		return nil
	})
	return res
}

// TestRunner_Thresholds toggles a real HTTP target and checks that the
// status moves only after the configured number of results in a row.
func TestRunner_Thresholds(t *testing.T) {
	var failing atomic.Bool
	var failsServed, passesServed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			failsServed.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		passesServed.Add(1)
	}))
	t.Cleanup(srv.Close)

	type seen struct {
		status       node.Health
		fails, pases int64
	}
	var mu sync.Mutex
	var changes []seen
	r := NewRunner(nil, func(res Result) {
		mu.Lock()
		changes = append(changes, seen{res.Status, failsServed.Load(), passesServed.Load()})
		mu.Unlock()
	})
	d := Definition{ID: "web", HTTP: srv.URL, Interval: 100 * time.Millisecond, SuccessBeforePassing: 3, FailuresBeforeCritical: 2}
	if err := r.Set([]Definition{d}); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.Result("web"); res.Status != node.HealthCritical {
		t.Fatalf("before the first run: got %s, want critical", res.Status)
	}
	startRunner(t, r)
	waitStatus(t, r, "web", node.HealthPassing, "HTTP 200")
	failing.Store(true)
	waitStatus(t, r, "web", node.HealthCritical, "HTTP 500")
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 {
		t.Fatalf("changes: got %v, want passing then critical", changes)
	}
	if changes[0].status != node.HealthPassing || changes[0].pases < 3 {
		t.Errorf("turned passing after %d passing responses, want >= 3", changes[0].pases)
	}
	if changes[1].status != node.HealthCritical || changes[1].fails < 2 {
		t.Errorf("turned critical after %d failing responses, want >= 2", changes[1].fails)
	}
}

func TestRunner_TTL(t *testing.T) {
	r := NewRunner(nil, nil)
	defs := []Definition{
		{ID: "job", TTL: time.Second},
		{ID: "tcp", TCP: "127.0.0.1:1", Interval: time.Hour, Initial: node.HealthWarning, InitialSet: true},
	}
	if err := r.Set(defs); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.Result("tcp"); res.Status != node.HealthWarning {
		t.Errorf("configured initial status: got %s, want warning", res.Status)
	}
	startRunner(t, r)
	if err := r.UpdateTTL("job", node.HealthPassing, "batch ok\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.Result("job"); res.Status != node.HealthPassing || res.Note != "batch ok second line" {
		t.Errorf("after UpdateTTL: got %s %q, want passing %q", res.Status, res.Note, "batch ok second line")
	}
	waitStatus(t, r, "job", node.HealthCritical, "TTL expired")
	if err := r.UpdateTTL("job", node.HealthWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, "job", node.HealthCritical, "TTL expired")

	for _, tc := range []struct {
		id     string
		status node.Health
		want   string
	}{
		{"tcp", node.HealthPassing, `check "tcp": is a tcp check, not a ttl check`},
		{"nope", node.HealthPassing, `check "nope": no such check`},
		{"job", node.HealthMaintenance, `check "job": status maintenance: want passing, warning or critical`},
	} {
		if err := r.UpdateTTL(tc.id, tc.status, ""); err == nil || err.Error() != tc.want {
			t.Errorf("UpdateTTL(%s, %s): got %v, want %q", tc.id, tc.status, err, tc.want)
		}
	}
}

// TestRunner_SetReconciles: unchanged checks keep their state, changed
// ones start over, removed ones go, invalid sets change nothing.
func TestRunner_SetReconciles(t *testing.T) {
	r := NewRunner(nil, nil)
	a := Definition{ID: "a", TTL: time.Hour}
	b := Definition{ID: "b", TTL: time.Hour}
	if err := r.Set([]Definition{a, b}); err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	for _, id := range []string{"a", "b"} {
		if err := r.UpdateTTL(id, node.HealthPassing, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	c := Definition{ID: "c", TTL: time.Hour}
	b2 := b
	b2.Name = "renamed"
	if err := r.Set([]Definition{a, b2, c}); err != nil {
		t.Fatal(err)
	}
	want := map[string]node.Health{"a": node.HealthPassing, "b": node.HealthCritical, "c": node.HealthCritical}
	got := map[string]node.Health{}
	for _, res := range r.Results() {
		got[res.ID] = res.Status
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Set: got %v, want %v (a unchanged keeps passing, b changed and c new start critical)", got, want)
	}
	if err := r.Set([]Definition{a, {ID: "bad", HTTP: "ftp://x"}, {ID: "a", TTL: time.Second}}); err == nil ||
		!strings.Contains(err.Error(), `check "bad": http`) || !strings.Contains(err.Error(), `check "a": id: defined twice`) {
		t.Errorf("invalid set: got %v, want both problems named", err)
	}
	if n := len(r.Results()); n != 3 {
		t.Errorf("after an invalid Set: %d checks, want the 3 from before", n)
	}
	if err := r.Set([]Definition{c}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Result("a"); ok || len(r.Results()) != 1 {
		t.Errorf("after removing a and b: got %v, want only c", r.Results())
	}
}
