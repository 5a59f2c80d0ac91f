package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce/debouncetest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

const webTmpl = `{{ range service "web" }}server {{ .Node }} {{ .HostPort }} weight {{ .Weight }}
{{ end }}`

type fixture struct {
	dir     string
	dest    string
	src     *fakeSource
	clk     *debouncetest.FakeClock
	be      *recBackend
	r       *Runner
	mu      sync.Mutex
	install []Installed
}

// newFixture builds a runner with one file template ("web") rendering into
// a temp dir; modify adjusts the config before New.
func newFixture(t *testing.T, snap *node.Snapshot, modify func(*Config)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), src: newFakeSource(snap), clk: debouncetest.NewFakeClock(), be: &recBackend{}}
	src := filepath.Join(f.dir, "web.tmpl")
	writeFile(t, src, webTmpl)
	f.dest = filepath.Join(f.dir, "web.cfg")
	cfg := Config{
		Templates: []TemplateConfig{{Name: "web", Source: src, Destination: f.dest, Backend: f.be}},
		Source:    f.src,
		Clock:     f.clk,
		OnInstall: func(in Installed) {
			f.mu.Lock()
			f.install = append(f.install, in)
			f.mu.Unlock()
		},
	}
	if modify != nil {
		modify(&cfg)
	}
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *fixture) installs() []Installed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Installed(nil), f.install...)
}

// change publishes a new snapshot and returns once the runner has taken it
// in and rendered whatever became due, so the test may move the clock.
func (f *fixture) change(s *node.Snapshot) {
	f.src.Set(s)
	f.r.waitIdle()
}

func withWait(w Wait) func(*Config) {
	return func(c *Config) { c.Templates[0].Wait = w }
}

func TestRunner_InstallsOnlyWhenBytesChange(t *testing.T) {
	f := newFixture(t, webCluster(), nil)
	startRunner(t, f.r)

	want := "server web1 10.0.0.11:8080 weight 5\nserver web2 10.0.0.12:8080 weight 10\n"
	if got := readFile(t, f.dest); got != want {
		t.Fatalf("destination: got %q, want %q", got, want)
	}
	st := statusOf(t, f.r, "web")
	if !st.OK || st.Hash != hashOf([]byte(want)) || st.Installs != 1 || st.Reloads != 1 || st.Backends != 2 {
		t.Errorf("status: got %+v, want ok, hash of the file, 1 install, 1 reload, 2 backends", st)
	}
	if in := f.installs(); len(in) != 1 || in[0].Hash != st.Hash {
		t.Errorf("OnInstall: got %+v, want one call with hash %s", in, st.Hash)
	}

	// A change that does not change the output: no validation, no reload.
	s := webCluster()
	s.Version = 2
	s.Members[0].Tags = map[string]string{"role": "lb", "zone": "b"}
	f.change(s)
	f.r.waitIdle()
	if v, rl := f.be.counts(); v != 1 || rl != 1 {
		t.Errorf("after a no-op change: got %d validations, %d reloads, want 1 and 1", v, rl)
	}
	if st := statusOf(t, f.r, "web"); st.Renders != 2 || st.Installs != 1 {
		t.Errorf("status: got %d renders, %d installs, want 2 and 1", st.Renders, st.Installs)
	}
}

func TestRunner_ValidationFailureKeepsLastGood(t *testing.T) {
	f := newFixture(t, webCluster(), nil)
	startRunner(t, f.r)
	before := readFile(t, f.dest)

	f.be.set(errRejected, nil)
	s := webCluster()
	s.Members = append(s.Members, member("web4", 14, svc("web", 8080, 1)))
	f.change(s)
	f.r.waitIdle()

	if got := readFile(t, f.dest); got != before {
		t.Errorf("destination changed after a failed validation:\n%s", got)
	}
	if v, rl := f.be.counts(); v != 2 || rl != 1 {
		t.Errorf("got %d validations, %d reloads, want 2 and 1 (no reload after the failure)", v, rl)
	}
	st := statusOf(t, f.r, "web")
	if st.OK || !strings.Contains(st.Error, "unknown keyword 'sever'") || st.Failures != 1 {
		t.Errorf("status: got %+v, want a failure carrying the backend's message", st)
	}
	if st.Hash != hashOf([]byte(before)) {
		t.Errorf("status hash: got %s, want the installed file's", st.Hash)
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}

	// Once the backend accepts again, the next change installs.
	f.be.set(nil, nil)
	s2 := *s
	s2.Version++
	f.change(&s2)
	f.r.waitIdle()
	if got := readFile(t, f.dest); !strings.Contains(got, "web4") {
		t.Errorf("destination after recovery lacks web4:\n%s", got)
	}
	if st := statusOf(t, f.r, "web"); !st.OK {
		t.Errorf("status after recovery: got %+v, want ok", st)
	}
}

// Editing the template file re-renders at once; a new text that does not
// parse, or fails when executed, keeps the last good file.
func TestRunner_TemplateEdits(t *testing.T) {
	f := newFixture(t, webCluster(), withWait(Wait{Min: time.Hour, Max: time.Hour}))
	startRunner(t, f.r)
	src := filepath.Join(f.dir, "web.tmpl")

	// Editors write a new file and rename it over the old one.
	tmp := filepath.Join(f.dir, "web.tmpl.swp")
	writeFile(t, tmp, `{{ range service "web" }}backend {{ .Node }}
{{ end }}`)
	if err := os.Rename(tmp, src); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := readFile(t, f.dest); got != "backend web1\nbackend web2\n" {
			return errors.New("destination not re-rendered yet: " + got)
		}
		return nil
	})
	good := readFile(t, f.dest)

	writeFile(t, src, `{{ range service "web" }`)
	testutil.WaitFor(t, 20*time.Second, func() error {
		if st := statusOf(t, f.r, "web"); !strings.Contains(st.TemplateError, "parse") {
			return errors.New("no template error reported yet: " + st.TemplateError)
		}
		return nil
	})
	// The last good parse still renders cluster changes.
	s := webCluster()
	s.Version = 2
	s.Members = append(s.Members, member("web4", 14, svc("web", 8080, 1)))
	f.change(s)
	f.clk.Advance(time.Hour)
	f.r.waitIdle()
	if got := readFile(t, f.dest); got != good+"backend web4\n" {
		t.Errorf("destination with the last good template: got %q, status %+v", got, statusOf(t, f.r, "web"))
	}

	// A template that parses but fails to execute keeps the file too.
	writeFile(t, src, `{{ .Vars.unset }}`)
	testutil.WaitFor(t, 20*time.Second, func() error {
		st := statusOf(t, f.r, "web")
		if st.OK || !strings.Contains(st.Error, "unset") || st.TemplateError != "" {
			return errors.New("want a render error about .Vars.unset, got: " + st.Error)
		}
		return nil
	})
	if got := readFile(t, f.dest); got != good+"backend web4\n" {
		t.Errorf("destination changed after a failed render: %q", got)
	}
}

// A burst of 100 joins renders at most twice: once when max cuts the wait,
// once when the cluster goes quiet.
func TestRunner_BurstOf100Joins(t *testing.T) {
	f := newFixture(t, snapshot("lb1", 1, member("lb1", 1)), withWait(Wait{Min: time.Second, Max: 5 * time.Second}))
	startRunner(t, f.r)
	start := statusOf(t, f.r, "web").Renders

	ms := []node.Member{member("lb1", 1)}
	for i := 1; i <= 100; i++ {
		ms = append(ms, member("web"+string(rune('a'+i/26))+string(rune('a'+i%26)), 100+i, svc("web", 8080, 1)))
		f.change(snapshot("lb1", uint64(i+1), ms...))
		f.clk.Advance(100 * time.Millisecond)
		f.r.waitIdle()
	}
	f.clk.Advance(time.Second)
	f.r.waitIdle()

	st := statusOf(t, f.r, "web")
	if got := st.Renders - start; got < 1 || got > 2 {
		t.Errorf("burst of 100 joins gave %d renders, want 1 or 2", got)
	}
	if st.Backends != 100 {
		t.Errorf("final render has %d backends, want 100", st.Backends)
	}
}

// A member that fails renders at once, without waiting for min; a join does
// wait.
func TestRunner_RemovalIsUrgent(t *testing.T) {
	f := newFixture(t, webCluster(), withWait(Wait{Min: 10 * time.Second, Max: time.Minute}))
	startRunner(t, f.r)

	s := webCluster()
	s.Version = 2
	s.Members = append(s.Members, member("web4", 14, svc("web", 8080, 1)))
	f.change(snapshot("lb1", 2, s.Members...))
	f.r.waitIdle()
	if got := readFile(t, f.dest); strings.Contains(got, "web4") {
		t.Errorf("a join rendered before min passed:\n%s", got)
	}

	failed := snapshot("lb1", 3, s.Members...)
	for i := range failed.Members {
		if failed.Members[i].Name == "web2" {
			failed.Members[i].Status = node.StatusFailed
		}
	}
	f.change(failed)
	f.r.waitIdle() // no clock advance
	if got := readFile(t, f.dest); strings.Contains(got, "web2") || !strings.Contains(got, "web4") {
		t.Errorf("after web2 failed: got\n%s\nwant web2 gone and web4 in", got)
	}
}

func TestRunner_FloorGuard(t *testing.T) {
	f := newFixture(t, webCluster(), func(c *Config) { c.Templates[0].MinBackends = 2 })
	startRunner(t, f.r)
	before := readFile(t, f.dest)

	// A partitioned node sees web1 fail.
	s := snapshot("lb1", 2, webCluster().Members...)
	s.Members[1].Status = node.StatusFailed
	f.change(s)
	f.r.waitIdle()
	if got := readFile(t, f.dest); got != before {
		t.Errorf("floor guard let the pool shrink below 2:\n%s", got)
	}
	st := statusOf(t, f.r, "web")
	if st.OK || !strings.Contains(st.Error, "min_backends 2") {
		t.Errorf("status: got %+v, want a floor guard error", st)
	}
	if _, rl := f.be.counts(); rl != 1 {
		t.Errorf("reloads: got %d, want 1", rl)
	}
}

func TestRunner_MaxDropFraction(t *testing.T) {
	ms := []node.Member{member("lb1", 1)}
	for i := 0; i < 4; i++ {
		ms = append(ms, member("web"+string(rune('a'+i)), 10+i, svc("web", 8080, 1)))
	}
	f := newFixture(t, snapshot("lb1", 1, ms...), func(c *Config) { c.Templates[0].MaxDropFraction = 0.5 })
	startRunner(t, f.r)

	drop := func(n int, version uint64) *node.Snapshot {
		s := snapshot("lb1", version, ms...)
		for i := 1; i <= n; i++ {
			s.Members[i].Status = node.StatusLeft
		}
		return s
	}
	f.change(drop(3, 2)) // 3 of 4: 75%
	f.r.waitIdle()
	if st := statusOf(t, f.r, "web"); st.OK || st.Backends != 4 {
		t.Errorf("dropping 3 of 4: got %+v, want refused with 4 backends kept", st)
	}
	f.change(drop(2, 3)) // 2 of 4: 50%
	f.r.waitIdle()
	if st := statusOf(t, f.r, "web"); !st.OK || st.Backends != 2 {
		t.Errorf("dropping 2 of 4: got %+v, want installed with 2 backends", st)
	}
}

func TestRunner_RenderNowReloadsUnchanged(t *testing.T) {
	f := newFixture(t, webCluster(), withWait(Wait{Min: time.Hour, Max: time.Hour}))
	startRunner(t, f.r)
	if err := f.r.RenderNow("nope"); err == nil {
		t.Errorf("RenderNow of an unknown template: got no error")
	}
	if err := f.r.RenderNow("web"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if _, rl := f.be.counts(); rl != 2 {
			return errors.New("reload not forced yet")
		}
		return nil
	})
	if st := statusOf(t, f.r, "web"); st.Installs != 1 || st.Reloads != 2 {
		t.Errorf("status: got %d installs, %d reloads, want 1 and 2", st.Installs, st.Reloads)
	}
}

func TestRunner_ReloadFailureIsRetried(t *testing.T) {
	f := newFixture(t, webCluster(), nil)
	f.be.set(nil, errors.New("haproxy master not running"))
	startRunner(t, f.r)
	st := statusOf(t, f.r, "web")
	if st.OK || !strings.Contains(st.Error, "master not running") || st.Installs != 1 {
		t.Errorf("status: got %+v, want installed but a reload failure reported", st)
	}
	if in := f.installs(); len(in) != 1 {
		t.Errorf("OnInstall: got %d calls, want 1 (the file did change)", len(in))
	}
	// The next change retries the reload even though the bytes are equal.
	f.be.set(nil, nil)
	s := webCluster()
	s.Version = 2
	f.change(s)
	f.r.waitIdle()
	if _, rl := f.be.counts(); rl != 1 {
		t.Errorf("reloads after recovery: got %d, want 1", rl)
	}
	if st := statusOf(t, f.r, "web"); !st.OK {
		t.Errorf("status after the retried reload: got %+v, want ok", st)
	}
}

func TestRunner_SharedBackendReloadsOncePerBatch(t *testing.T) {
	f := newFixture(t, webCluster(), func(c *Config) {
		second := c.Templates[0]
		second.Name, second.Destination = "web2", c.Templates[0].Destination+".2"
		c.Templates = append(c.Templates, second)
	})
	startRunner(t, f.r)
	if v, rl := f.be.counts(); v != 2 || rl != 1 {
		t.Errorf("got %d validations, %d reloads, want 2 and 1", v, rl)
	}
}

func TestRunner_DryRunWritesNothing(t *testing.T) {
	f := newFixture(t, webCluster(), func(c *Config) { c.Dry = true })
	res, err := f.r.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Err != nil || !res[0].Changed || !strings.Contains(string(res[0].Content), "server web1") {
		t.Fatalf("dry run: got %+v, want the would-be content", res)
	}
	if _, err := os.Stat(f.dest); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the destination: %v", err)
	}
	if v, rl := f.be.counts(); v != 0 || rl != 0 {
		t.Errorf("dry run: got %d validations, %d reloads, want none", v, rl)
	}
	if in := f.installs(); len(in) != 0 {
		t.Errorf("dry run announced installs: %+v", in)
	}
}

func TestRunner_NotifyUrgent(t *testing.T) {
	f := newFixture(t, webCluster(), withWait(Wait{Min: time.Hour, Max: time.Hour}))
	startRunner(t, f.r)
	s := webCluster()
	s.Members = s.Members[:2] // web2 and web3 gone
	f.src.mu.Lock()
	f.src.snap = s // changed without a watch signal, as if learnt from Subscribe
	f.src.mu.Unlock()
	f.r.Notify(true)
	testutil.WaitFor(t, 20*time.Second, func() error {
		if got := readFile(t, f.dest); strings.Contains(got, "web2") {
			return errors.New("web2 still rendered")
		}
		return nil
	})
}

func TestNew_ReportsEveryProblem(t *testing.T) {
	_, err := New(Config{Templates: []TemplateConfig{
		{Name: "a", Source: "builtin:haproxy"},
		{Name: "b", Source: "builtin:haproxy", Destination: "/x", Wait: Wait{Min: 2 * time.Second, Max: time.Second}},
		{Name: "c", Source: "builtin:nope", Destination: "/y"},
	}}, nil)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"no membership source", "destination is empty", "below wait.min", "no built-in template"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The injection attempt from issue 5, through the whole pipeline: the
// built-in HAProxy template never reads zone, so the member stays, without
// the value, and the injected line never appears; a template that reads
// zone leaves the member out and reports it.
func TestRunner_InjectedTagIsExcludedAndReported(t *testing.T) {
	evil := member("evil", 66, svc("web", 8080, 1))
	evil.Tags = map[string]string{"zone": "a\nserver evil 1.2.3.4:80"}
	snap := snapshot("lb1", 1, append(webCluster().Members, evil)...)
	dir := t.TempDir()
	dest, zoneDest, zoneSrc := filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "zone.cfg"), filepath.Join(dir, "zone.tmpl")
	writeFile(t, zoneSrc, `{{ range members "alive" }}{{ .Name }} {{ tag "zone" . }}
{{ end }}`)
	r, err := New(Config{
		Source: newFakeSource(snap),
		Clock:  debouncetest.NewFakeClock(),
		Templates: []TemplateConfig{
			{Name: "lb", Source: "builtin:haproxy", Destination: dest},
			{Name: "zone", Source: zoneSrc, Destination: zoneDest},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	for _, path := range []string{dest, zoneDest} {
		if got := readFile(t, path); strings.Contains(got, "1.2.3.4") {
			t.Errorf("%s contains the injected line:\n%s", path, got)
		}
	}
	got := readFile(t, dest)
	if !strings.Contains(got, "server web1 10.0.0.11:8080") || !strings.Contains(got, "server evil 10.0.0.66:8080") {
		t.Errorf("built-in template: want every member, evil with its own address:\n%s", got)
	}
	if st := statusOf(t, r, "lb"); len(st.Excluded) != 0 {
		t.Errorf("built-in template excluded %+v, want none: it reads no zone", st.Excluded)
	}
	if got := readFile(t, zoneDest); strings.Contains(got, "evil") || !strings.Contains(got, "web1") {
		t.Errorf("zone template: got %q, want evil left out, web1 in", got)
	}
	if st := statusOf(t, r, "zone"); len(st.Excluded) != 1 || st.Excluded[0].Member != `"evil"` {
		t.Errorf("zone template excluded: got %+v, want evil", st.Excluded)
	}
}
