package agent

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/node"
)

func testServices(t *testing.T, dir string) *localServices {
	t.Helper()
	web := config.ServiceDef{Name: "web", Port: 8080, Weight: 1,
		Checks: []config.CheckDef{{HTTP: "http://127.0.0.1:1/health", Interval: time.Hour}}}
	web.SetDefaults()
	nodeChecks := []config.CheckDef{{TTL: time.Hour}}
	config.SetNodeCheckDefaults(nodeChecks)
	s, err := newServices(config.Config{DataDir: dir, ServiceDefs: []config.ServiceDef{web}, NodeChecks: nodeChecks},
		slog.New(slog.DiscardHandler), func([]node.Service, []node.CheckState) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServices_InitialCatalogIsNotPassing: before any check ran, the
// record a starting agent advertises has its instances and node checks
// critical, never passing.
func TestServices_InitialCatalogIsNotPassing(t *testing.T) {
	svcs, nodeChecks := testServices(t, "").initialCatalog()
	if len(svcs) != 1 || svcs[0].ID != "web" || svcs[0].Health != node.HealthCritical ||
		len(svcs[0].Checks) != 1 || svcs[0].Checks[0].ID != "web-check" || svcs[0].Checks[0].ServiceID != "web" {
		t.Errorf("initial services: got %+v, want web critical with its check web-check", svcs)
	}
	if len(nodeChecks) != 1 || nodeChecks[0].ID != "node-check" || nodeChecks[0].Status != node.HealthCritical {
		t.Errorf("initial node checks: got %+v, want node-check critical", nodeChecks)
	}
}

// TestServices_APIErrorsCarryTheirStatus: what the registry refuses maps
// to the api error kinds (404, 409, 500), a validation error to none
// (400), and each keeps words that name the problem.
func TestServices_APIErrorsCarryTheirStatus(t *testing.T) {
	s := testServices(t, t.TempDir())
	port := func(p int) api.ServiceRegistration { return api.ServiceRegistration{ID: "x", Name: "x", Port: p} }
	for _, tc := range []struct {
		name string
		err  error
		kind error // nil: a 400
		want string
	}{
		{"port 0", s.Register(port(0)), nil, "port 0 must be from 1 to 65535"},
		{"invalid name", s.Register(api.ServiceRegistration{ID: "x", Name: "a b", Port: 80}), nil, `service name "a b" must be a DNS label`},
		{"bad duration", s.Register(api.ServiceRegistration{ID: "x", Name: "x", Port: 80, Checks: []api.CheckDefinition{{TTL: "soon"}}}), nil, `check[0]: ttl "soon" is not a positive duration`},
		{"config id", s.Register(api.ServiceRegistration{ID: "web", Name: "web", Port: 80}), api.ErrConflict, "already defined in the config files"},
		{"config check id", s.Register(api.ServiceRegistration{ID: "x", Name: "x", Port: 80, Checks: []api.CheckDefinition{{ID: "web-check", TTL: "5s"}}}), api.ErrConflict, `check id "web-check": used by service "web" and by service "x"`},
		{"deregister config", s.Deregister("web"), api.ErrConflict, "remove it there and reload"},
		{"deregister unknown", s.Deregister("nope"), api.ErrNotFound, `service "nope": no such service`},
		{"maintenance unknown", s.Maintenance("nope", true, ""), api.ErrNotFound, "no such service"},
		{"ttl unknown", s.UpdateTTL("nope", node.HealthPassing, ""), api.ErrNotFound, `check "nope": no such check`},
		{"ttl of an http check", s.UpdateTTL("web-check", node.HealthPassing, ""), nil, "not a ttl check"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, tc.err, tc.want)
			continue
		}
		for _, k := range []error{api.ErrNotFound, api.ErrConflict, api.ErrInternal} {
			if errors.Is(tc.err, k) != (k == tc.kind) {
				t.Errorf("%s: errors.Is(%v, %v) = %v, want kind %v", tc.name, tc.err, k, !(k == tc.kind), tc.kind)
			}
		}
	}
	if err := s.Register(api.ServiceRegistration{ID: "api", Name: "api", Port: 9000, Checks: []api.CheckDefinition{{TTL: "1h"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTL("api-check", node.HealthWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	if h := local(s, "api").Health; h != "critical" {
		t.Errorf("api with the node check critical: got %s, want critical (a node check takes every instance out)", h)
	}
	if err := s.UpdateTTL("node-check", node.HealthPassing, ""); err != nil {
		t.Fatal(err)
	}
	if got := local(s, "api"); got.Source != "runtime" || got.Health != "warning" || len(got.Checks) != 1 || got.Checks[0].Kind != "ttl" || got.Checks[0].Note != "slow" {
		t.Errorf("registered instance: got %+v, want runtime, warning, ttl check api-check", got)
	}
}

func local(s *localServices, id string) api.LocalService {
	for _, ls := range s.Local() {
		if ls.ID == id {
			return ls
		}
	}
	return api.LocalService{}
}

// TestServices_StateFileUnwritable: a data dir the agent cannot write is
// a 500 that names the file, and nothing is registered.
func TestServices_StateFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	s := testServices(t, dir)
	// A file where the state's directory must go.
	if err := os.WriteFile(filepath.Join(dir, "services"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Register(api.ServiceRegistration{ID: "api", Name: "api", Port: 9000})
	if !errors.Is(err, api.ErrInternal) || !strings.Contains(err.Error(), filepath.Join(dir, "services")) {
		t.Errorf("register with an unwritable data dir: got %v, want an internal error naming the path", err)
	}
	for _, ls := range s.Local() {
		if ls.ID == "api" {
			t.Errorf("api registered although its state was not kept")
		}
	}
}

// TestAPITags_KeptInDataDir: tags set and deleted through the API are
// written to the data dir and restored by the next agent; config tags
// stay the config's.
func TestAPITags_KeptInDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, Tags: map[string]string{"role": "web", "dc": "eu"}}
	a := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), tagSet: map[string]string{"team": "blue"}, tagDel: map[string]bool{"dc": true}}
	if err := a.persistTags(a.effectiveTags()); err != nil {
		t.Fatal(err)
	}
	cfg.Tags["role"] = "api" // edited in the config meanwhile
	b := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), tagSet: map[string]string{}, tagDel: map[string]bool{}}
	if err := b.restoreTags(); err != nil {
		t.Fatal(err)
	}
	got := b.effectiveTags()
	if len(got) != 2 || got["team"] != "blue" || got["role"] != "api" {
		t.Errorf("tags after restart: got %v, want team=blue (API), role=api (config), dc deleted", got)
	}
	if err := os.WriteFile(filepath.Join(dir, apiTagsFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), tagSet: map[string]string{}, tagDel: map[string]bool{}}
	if err := c.restoreTags(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, apiTagsFile)) {
		t.Errorf("corrupt api tags: got %v, want an error naming the file", err)
	}
}

func ttlService(name string) config.ServiceDef {
	d := config.ServiceDef{Name: name, Port: 8080, Weight: 1, Checks: []config.CheckDef{{TTL: time.Hour}}}
	d.SetDefaults()
	return d
}

func localIDs(t *testing.T, ta *testAgent) []string {
	t.Helper()
	var out api.AgentServices
	if err := ta.call(http.MethodGet, "/v1/agent/services", nil, &out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range out.Services {
		ids = append(ids, s.ID+":"+s.Source)
	}
	return ids
}

// TestAgent_ReloadReconcilesServices: a reload (SIGHUP) replaces the
// config's services, keeps runtime registrations, and a config the
// registry refuses (a check id a runtime registration holds) is refused
// whole, services and tags unchanged.
func TestAgent_ReloadReconcilesServices(t *testing.T) {
	cfg := testConfig("svc")
	cfg.DataDir = t.TempDir()
	cfg.ServiceDefs = []config.ServiceDef{ttlService("web")}
	ta := startAgent(t, cfg)
	reg := api.ServiceRegistration{Name: "api", Port: 9000, Checks: []api.CheckDefinition{{TTL: "1h"}}}
	if err := ta.call(http.MethodPut, "/v1/agent/services/api", reg, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := localIDs(t, ta), []string{"web:config", "api:runtime"}; !slices.Equal(got, want) {
		t.Fatalf("services: got %v, want %v", got, want)
	}

	next := ta.config()
	next.ServiceDefs = []config.ServiceDef{ttlService("cache")}
	if err := ta.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got, want := localIDs(t, ta), []string{"cache:config", "api:runtime"}; !slices.Equal(got, want) {
		t.Errorf("after reload: got %v, want %v", got, want)
	}

	bad := ta.config()
	clash := ttlService("db")
	clash.Checks[0].ID = "api-check" // the runtime instance's check
	bad.ServiceDefs = []config.ServiceDef{clash}
	bad.Tags = map[string]string{"new": "tag"}
	err := ta.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), `check id "api-check": used by service "db" and by service "api"`) {
		t.Errorf("reload with a clashing check id: got %v, want it named", err)
	}
	if got, want := localIDs(t, ta), []string{"cache:config", "api:runtime"}; !slices.Equal(got, want) {
		t.Errorf("after a refused reload: got %v, want %v", got, want)
	}
	if got := ta.Tags(); len(got) != 0 {
		t.Errorf("tags after a refused reload: %v, want none", got)
	}
}
