package render

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

// member builds an alive member at 10.0.<i/256>.<i%256> offering services.
func member(name string, i int, services ...node.Service) node.Member {
	return node.Member{
		Name:     name,
		Addr:     net.IPv4(10, 0, byte(i/256), byte(i%256)),
		Port:     7946,
		Tags:     map[string]string{"role": "web"},
		Services: services,
		Status:   node.StatusAlive,
	}
}

func svc(name string, port uint16, weight int, tags ...string) node.Service {
	return node.Service{Name: name, Port: port, Weight: weight, Tags: tags}
}

// snapshot sorts members by name like the node package does.
func snapshot(self string, version uint64, ms ...node.Member) *node.Snapshot {
	sorted := append([]node.Member(nil), ms...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j].Name < sorted[j-1].Name; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	return &node.Snapshot{Self: self, Members: sorted, Version: version}
}

// webCluster is a small mixed cluster used by several tests.
func webCluster() *node.Snapshot {
	lb := member("lb1", 1)
	lb.Tags = map[string]string{"role": "lb", "zone": "a"}
	failed := member("web3", 13, svc("web", 8080, 10))
	failed.Status = node.StatusFailed
	return snapshot("lb1", 1,
		lb,
		member("web2", 12, svc("web", 8080, 10, "v2"), svc("api", 9090, 0)),
		member("web1", 11, svc("web", 8080, 5, "v1")),
		failed,
	)
}

// fakeSource is a membership view the test drives. Its watch channel is
// unbuffered and Set blocks until the runner took the signal, so that when
// Set returns the runner has seen the change (then waitIdle settles it).
type fakeSource struct {
	mu   sync.Mutex
	snap *node.Snapshot
	ch   chan struct{}
}

func newFakeSource(s *node.Snapshot) *fakeSource {
	return &fakeSource{snap: s, ch: make(chan struct{})}
}

func (f *fakeSource) Snapshot() *node.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSource) Watch() (<-chan struct{}, func()) { return f.ch, func() {} }

func (f *fakeSource) Set(s *node.Snapshot) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
	f.ch <- struct{}{}
}

// recBackend records Validate and Reload calls; it tests the pipeline, not
// validation (the real haproxy and nginx do that in builtin_test.go).
type recBackend struct {
	mu          sync.Mutex
	validated   []string // content of each validated candidate
	reloads     int
	validateErr error
	reloadErr   error
}

func (b *recBackend) Name() string { return "rec" }

func (b *recBackend) Validate(_ context.Context, path string) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("candidate not readable: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.validated = append(b.validated, string(content))
	return b.validateErr
}

func (b *recBackend) Reload(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reloadErr != nil {
		return b.reloadErr
	}
	b.reloads++
	return nil
}

func (b *recBackend) set(validateErr, reloadErr error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.validateErr, b.reloadErr = validateErr, reloadErr
}

func (b *recBackend) counts() (validated, reloads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.validated), b.reloads
}

var errRejected = errors.New("[ALERT] parsing [cand:3]: unknown keyword 'sever'")

// startRunner runs r until the test ends and waits for the first render.
func startRunner(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.waitIdle()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func statusOf(t *testing.T, r *Runner, name string) TemplateStatus {
	t.Helper()
	for _, st := range r.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for template %q", name)
	return TemplateStatus{}
}
