package services

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// published records what Publish was given.
type published struct {
	mu         sync.Mutex
	calls      int
	services   []node.Service
	nodeChecks []node.CheckState
}

func (p *published) publish(s []node.Service, c []node.CheckState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.services, p.nodeChecks = s, c
	return nil
}

func (p *published) service(id string) (node.Service, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.services {
		if s.ID == id {
			return s, true
		}
	}
	return node.Service{}, false
}

// waitHealth waits until the published instance id has health want.
func (p *published) waitHealth(t *testing.T, id string, want node.Health) node.Service {
	t.Helper()
	var s node.Service
	testutil.WaitFor(t, 20*time.Second, func() error {
		var ok bool
		s, ok = p.service(id)
		if !ok || s.Health != want {
			return fmt.Errorf("published %q: got %s (present %v, checks %+v), want %s", id, s.Health, ok, s.Checks, want)
		}
		return nil
	})
	return s
}

func newRegistry(t *testing.T, dir string, pub *published) *Registry {
	t.Helper()
	opts := Options{DataDir: dir}
	if pub != nil {
		opts.Publish = pub.publish
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs r until the test ends and waits for Run to return.
func run(t *testing.T, r *Registry) {
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	t.Cleanup(func() { // t.Context is cancelled before cleanups run
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func ttlCheck(ttl time.Duration) []checks.Definition {
	return []checks.Definition{{TTL: ttl}}
}

func status(t *testing.T, r *Registry, id string) ServiceStatus {
	t.Helper()
	for _, s := range r.Services() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("service %q not listed; have %+v", id, r.Services())
	return ServiceStatus{}
}

func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: got %v, want an error containing %q", what, err, want)
	}
}

func TestRegistry_RegisterDeregister(t *testing.T) {
	r := newRegistry(t, t.TempDir(), nil)
	if err := r.SetConfig([]Registration{{Name: "web", Port: 8080}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Registration{ID: "api-1", Name: "api", Port: 9001, Tags: []string{"v2"}, Checks: ttlCheck(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := status(t, r, "api-1")
	if s.Source != SourceRuntime || len(s.Checks) != 1 || s.Checks[0].ID != "service:api-1" || s.Health != node.HealthCritical {
		t.Errorf("runtime instance: got %+v, want source runtime, one check service:api-1, critical until its first update", s)
	}
	if s := status(t, r, "web"); s.Source != SourceConfig || s.Health != node.HealthPassing {
		t.Errorf("config instance without checks: got %s %s, want config passing", s.Source, s.Health)
	}
	wantErr(t, "check id taken", r.Register(Registration{Name: "y", Port: 1, Checks: []checks.Definition{{ID: "service:api-1", TTL: time.Hour}}}),
		`check id "service:api-1": used by service "api-1" and by service "y"`)
	// Re-registering the same ID replaces it.
	if err := r.Register(Registration{ID: "api-1", Name: "api", Port: 9002}); err != nil {
		t.Fatal(err)
	}
	if s := status(t, r, "api-1"); s.Port != 9002 || len(s.Checks) != 0 {
		t.Errorf("re-registered: got port %d, %d checks, want 9002 and none", s.Port, len(s.Checks))
	}

	wantErr(t, "config id", r.Register(Registration{Name: "web", Port: 1}), `service "web": id: already defined in the config files`)
	wantErr(t, "bad name", r.Register(Registration{Name: "web server", Port: 1}), `service "web server": name: "web server" is not 1-64 letters`)
	wantErr(t, "port 0", r.Register(Registration{Name: "x", Port: 0}), `service "x": port: 0 is not in 1-65535`)
	wantErr(t, "port 70000", r.Register(Registration{Name: "x", Port: 70000}), `service "x": port: 70000 is not in 1-65535`)
	wantErr(t, "address", r.Register(Registration{Name: "x", Port: 1, Address: "db.internal"}), `service "x": address: "db.internal" is not an IP address`)
	wantErr(t, "bad check", r.Register(Registration{Name: "x", Port: 1, Checks: []checks.Definition{{HTTP: "ftp://127.0.0.1/"}}}), `check "service:x": http:`)
	wantErr(t, "reserved check id", r.Register(Registration{Name: "y", Port: 1, Checks: []checks.Definition{{ID: "_maintenance", TTL: time.Hour}}}), `check "_maintenance": id: is reserved`)

	wantErr(t, "deregister config", r.Deregister("web"), `service "web" is defined in the config files`)
	wantErr(t, "deregister unknown", r.Deregister("nope"), `service "nope": no such service`)
	if err := r.Deregister("api-1"); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Services()); n != 1 {
		t.Errorf("after deregistering: %d services, want only web", n)
	}
}

func TestRegistry_SetConfigValidation(t *testing.T) {
	r := newRegistry(t, "", nil)
	err := r.SetConfig([]Registration{
		{Name: "web", Port: 80},
		{Name: "web", Port: 81},
		{ID: "db", Name: "db", Port: 0},
	}, []checks.Definition{{Name: "disk", TCP: "nohost"}})
	wantErr(t, "duplicate", err, `service "web": id: defined twice in the config`)
	wantErr(t, "port", err, `service "db": port: 0 is not in 1-65535`)
	wantErr(t, "node check", err, `check "disk": tcp: "nohost" is not host:port`)
	err = r.SetConfig([]Registration{{Name: "web", Port: 80, Checks: []checks.Definition{{ID: "disk", TTL: time.Hour}}}},
		[]checks.Definition{{Name: "disk", TTL: time.Hour}})
	wantErr(t, "check id clash", err, `check id "disk": used by a node check and by service "web"`)
	if n := len(r.Services()); n != 0 {
		t.Errorf("after rejected configs: %d services, want none", n)
	}
}

func TestRegistry_Maintenance(t *testing.T) {
	pub := &published{}
	r := newRegistry(t, t.TempDir(), pub)
	if err := r.SetConfig([]Registration{{Name: "web", Port: 80}, {Name: "db", Port: 5432}}, nil); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	pub.waitHealth(t, "web", node.HealthPassing)

	if err := r.SetMaintenance("web", true, "deploy v42"); err != nil {
		t.Fatal(err)
	}
	s := pub.waitHealth(t, "web", node.HealthMaintenance)
	want := node.CheckState{ID: node.MaintenanceCheckID, Name: "Service maintenance mode", ServiceID: "web", Status: node.HealthMaintenance, Note: "deploy v42"}
	if len(s.Checks) != 1 || s.Checks[0] != want {
		t.Errorf("published checks of web: got %+v, want %+v", s.Checks, want)
	}
	if st := status(t, r, "web"); !st.Maintenance || st.MaintenanceReason != "deploy v42" {
		t.Errorf("ServiceStatus: got maintenance %v %q, want true %q", st.Maintenance, st.MaintenanceReason, "deploy v42")
	}
	pub.waitHealth(t, "db", node.HealthPassing)

	if err := r.SetMaintenance("", true, ""); err != nil {
		t.Fatal(err)
	}
	pub.waitHealth(t, "db", node.HealthMaintenance)
	nc := r.NodeChecks()
	if len(nc) != 1 || nc[0].ID != node.MaintenanceCheckID || nc[0].ServiceID != "" || nc[0].Note != defaultMaintenanceNote {
		t.Errorf("node checks: got %+v, want the node maintenance check with the default note", nc)
	}
	if err := r.SetMaintenance("", false, ""); err != nil {
		t.Fatal(err)
	}
	pub.waitHealth(t, "db", node.HealthPassing)
	if err := r.SetMaintenance("web", false, ""); err != nil {
		t.Fatal(err)
	}
	pub.waitHealth(t, "web", node.HealthPassing)
	wantErr(t, "unknown service", r.SetMaintenance("nope", true, "x"), `maintenance: service "nope": no such service`)
}

func TestRegistry_PersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := []Registration{{Name: "web", Port: 80, Checks: ttlCheck(time.Hour)}}
	r := newRegistry(t, dir, nil)
	if err := r.SetConfig(cfg, nil); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		r.Register(Registration{ID: "api-1", Name: "api", Port: 9001, Address: "127.0.0.2", Meta: map[string]string{"v": "2"}, Checks: ttlCheck(time.Hour)}),
		r.SetMaintenance("", true, "kernel upgrade"),
		r.SetMaintenance("web", true, "deploy"),
		r.UpdateTTL("service:web", node.HealthWarning, "queue long"),
		r.UpdateTTL("service:api-1", node.HealthPassing, "ok"),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want it with mode 0600", err, st.Mode().Perm())
	}

	// The restart: a new registry on the same directory, then the config.
	r2 := newRegistry(t, dir, nil)
	if err := r2.SetConfig(cfg, nil); err != nil {
		t.Fatal(err)
	}
	api := status(t, r2, "api-1")
	if api.Source != SourceRuntime || api.Address != "127.0.0.2" || api.Meta["v"] != "2" ||
		len(api.Checks) != 1 || api.Checks[0].Status != node.HealthPassing || api.Checks[0].Note != "ok" {
		t.Errorf("runtime registration after restart: got %+v", api)
	}
	web := status(t, r2, "web")
	if !web.Maintenance || web.MaintenanceReason != "deploy" || web.Checks[0].Status != node.HealthWarning || web.Checks[0].Note != "queue long" {
		t.Errorf("web after restart: got %+v, want maintenance %q and ttl warning %q", web, "deploy", "queue long")
	}
	if nc := r2.NodeChecks(); len(nc) != 1 || nc[0].Note != "kernel upgrade" {
		t.Errorf("node maintenance after restart: got %+v", nc)
	}

	// A config without web drops web's maintenance and ttl state for good.
	if err := r2.SetConfig(nil, nil); err != nil {
		t.Fatal(err)
	}
	r3 := newRegistry(t, dir, nil)
	if err := r3.SetConfig(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if web := status(t, r3, "web"); web.Maintenance || web.Checks[0].Status != node.HealthCritical {
		t.Errorf("web re-added after its removal: got maintenance %v, ttl %s; want a fresh instance", web.Maintenance, web.Checks[0].Status)
	}
}

func TestRegistry_CorruptStateFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      `{"version": 1, "runtime": [`,
		"wrong version": `{"version": 7}`,
		"invalid entry": `{"version": 1, "runtime": [{"name": "web", "port": 0}]}`,
		"bad ttl":       `{"version": 1, "ttl": {"c": {"status": "maintenance"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{DataDir: dir})
			wantErr(t, "New", err, "services state "+path+" is corrupt")
		})
	}
}

// TestRegistry_SetConfigKeepsState: a reload keeps the state of checks
// whose definition did not change, runtime instances and maintenance.
func TestRegistry_SetConfigKeepsState(t *testing.T) {
	r := newRegistry(t, t.TempDir(), nil)
	web := Registration{Name: "web", Port: 80, Checks: ttlCheck(time.Hour)}
	if err := r.SetConfig([]Registration{web}, []checks.Definition{{Name: "load", TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	for _, id := range []string{"service:web", "load"} {
		if err := r.UpdateTTL(id, node.HealthPassing, "fine"); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(Registration{Name: "api", Port: 9000}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetMaintenance("api", true, "drain"); err != nil {
		t.Fatal(err)
	}
	// SIGHUP: web unchanged, a new service, the node check changed.
	if err := r.SetConfig([]Registration{web, {Name: "cache", Port: 6379}}, []checks.Definition{{Name: "load", TTL: 2 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if s := status(t, r, "web"); s.Checks[0].Status != node.HealthPassing {
		t.Errorf("unchanged check after reload: got %s, want passing kept", s.Checks[0].Status)
	}
	if nc := r.NodeChecks(); len(nc) != 1 || nc[0].Status != node.HealthCritical {
		t.Errorf("changed node check after reload: got %+v, want it started over (critical)", nc)
	}
	if s := status(t, r, "api"); s.Source != SourceRuntime || !s.Maintenance {
		t.Errorf("runtime instance after reload: got %+v, want kept, in maintenance", s)
	}
	if s := status(t, r, "cache"); s.Source != SourceConfig {
		t.Errorf("new config instance: got %+v", s)
	}
	// A config service takes over a runtime registration's ID.
	if err := r.SetConfig([]Registration{web, {Name: "api", Port: 9999}}, nil); err != nil {
		t.Fatal(err)
	}
	if s := status(t, r, "api"); s.Source != SourceConfig || s.Port != 9999 || !s.Maintenance {
		t.Errorf("config over runtime id: got %+v, want the config one, maintenance kept", s)
	}
}

// TestRegistry_ChecksDrivePublishedHealth: a real HTTP service check and
// a failing node check, seen through Publish.
func TestRegistry_ChecksDrivePublishedHealth(t *testing.T) {
	var code atomic.Int32
	code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(code.Load())) }))
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	pub := &published{}
	r := newRegistry(t, "", pub)
	web := Registration{Name: "web", Port: 8080, Checks: []checks.Definition{{HTTP: srv.URL, Interval: 100 * time.Millisecond}}}
	nodeCheck := []checks.Definition{{Name: "sshd", TCP: l.Addr().String(), Interval: 100 * time.Millisecond}}
	if err := r.SetConfig([]Registration{web, {Name: "db", Port: 5432}}, nodeCheck); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	pub.waitHealth(t, "web", node.HealthPassing)
	code.Store(http.StatusTooManyRequests)
	pub.waitHealth(t, "web", node.HealthWarning)
	code.Store(http.StatusServiceUnavailable)
	s := pub.waitHealth(t, "web", node.HealthCritical)
	if s.Checks[0].Note != "HTTP 503 Service Unavailable" {
		t.Errorf("published note: got %q, want the status line", s.Checks[0].Note)
	}
	pub.waitHealth(t, "db", node.HealthPassing)
	l.Close() // the node check fails: every instance goes
	pub.waitHealth(t, "db", node.HealthCritical)
}

// TestRegistry_PublishBoundedUnderFlapping flips ttl checks every 10ms
// and counts Publish calls: at most one per MinPublishInterval after the
// first, and the last state is published.
func TestRegistry_PublishBoundedUnderFlapping(t *testing.T) {
	pub := &published{}
	r := newRegistry(t, "", pub)
	var cfg []Registration
	for i := range 5 {
		cfg = append(cfg, Registration{Name: fmt.Sprintf("s%d", i), Port: 8000 + i, Checks: ttlCheck(time.Hour)})
	}
	if err := r.SetConfig(cfg, nil); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	pub.waitHealth(t, "s0", node.HealthCritical)
	start := time.Now()
	pub.mu.Lock()
	before := pub.calls
	pub.mu.Unlock()
	const flips = 150
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range flips {
		<-tick.C // the flapping rate under test, not synchronisation
		h := node.HealthPassing
		if i%2 == 1 {
			h = node.HealthCritical
		}
		for j := range cfg {
			if err := r.UpdateTTL(fmt.Sprintf("service:s%d", j), h, fmt.Sprintf("flip %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The last flip (critical, "flip 149") must reach Publish.
	testutil.WaitFor(t, 20*time.Second, func() error {
		s, _ := pub.service("s4")
		if len(s.Checks) == 0 || s.Checks[0].Note != fmt.Sprintf("flip %d", flips-1) {
			return fmt.Errorf("last published s4: %+v, want the last flip", s.Checks)
		}
		return nil
	})
	elapsed := time.Since(start)
	pub.mu.Lock()
	calls := pub.calls - before
	pub.mu.Unlock()
	limit := int(elapsed/DefaultMinPublishInterval) + 2
	t.Logf("%d flips of 5 checks over %s: %d Publish calls (limit %d)", flips, elapsed.Round(time.Millisecond), calls, limit)
	if calls > limit {
		t.Errorf("Publish called %d times in %s, want at most %d (one per %s)", calls, elapsed, limit, DefaultMinPublishInterval)
	}
}
