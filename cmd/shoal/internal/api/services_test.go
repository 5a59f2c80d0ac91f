package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/node"
)

// memRegistry keeps registrations in memory with the registry contract's
// rules on ids (duplicate of a config instance: conflict; unknown:
// not found), so the tests see how the API maps them to statuses.
type memRegistry struct {
	mu       sync.Mutex
	services map[string]api.LocalService
	ttl      map[string]string // check id -> "status note"
	maint    map[string]string // "" node, else instance -> reason
}

func newMemRegistry() *memRegistry {
	return &memRegistry{
		services: map[string]api.LocalService{"db": {ID: "db", Name: "db", Port: 5432, Source: "config", Health: "passing", Checks: []api.CheckStatus{}}},
		ttl:      map[string]string{}, maint: map[string]string{},
	}
}

func (m *memRegistry) Local() []api.LocalService {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []api.LocalService
	for _, s := range m.services {
		out = append(out, s)
	}
	return out
}

func (m *memRegistry) NodeChecks() []api.CheckStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.maint[""]; ok {
		return []api.CheckStatus{{ID: node.MaintenanceCheckID, Status: "maintenance", Note: r}}
	}
	return nil
}

// Register refuses a port out of range, standing for the agent's
// validation (agent.ServiceDefFromAPI, tested there): any error without a
// kind is a 400.
func (m *memRegistry) Register(d api.ServiceRegistration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.Port < 1 || d.Port > 65535 {
		return fmt.Errorf("service port %d must be from 1 to 65535", d.Port)
	}
	if old, ok := m.services[d.ID]; ok && old.Source == "config" {
		return fmt.Errorf("%w: instance %q is declared in the config", api.ErrConflict, d.ID)
	}
	ls := api.LocalService{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port, Tags: d.Tags, Weight: 1,
		Meta: d.Meta, Source: "runtime", Health: "critical"}
	for i, c := range d.Checks {
		if c.ID == "" {
			c.ID = fmt.Sprintf("%s-check-%d", d.ID, i+1)
		}
		ls.Checks = append(ls.Checks, api.CheckStatus{ID: c.ID, ServiceID: d.ID, Status: "critical"})
	}
	m.services[d.ID] = ls
	return nil
}

func (m *memRegistry) Deregister(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[id]
	switch {
	case !ok:
		return fmt.Errorf("%w: no instance %q", api.ErrNotFound, id)
	case s.Source == "config":
		return fmt.Errorf("%w: instance %q is declared in the config", api.ErrConflict, id)
	}
	delete(m.services, id)
	return nil
}

func (m *memRegistry) Maintenance(id string, enable bool, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.services[id]; id != "" && !ok {
		return fmt.Errorf("%w: no instance %q", api.ErrNotFound, id)
	}
	if enable {
		m.maint[id] = reason
	} else {
		delete(m.maint, id)
	}
	return nil
}

func (m *memRegistry) UpdateTTL(id string, status node.Health, note string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != "web-ttl" {
		return fmt.Errorf("%w: no ttl check %q", api.ErrNotFound, id)
	}
	m.ttl[id] = status.String() + " " + note
	return nil
}

// snapAgent answers Members with a fixed snapshot.
type snapAgent struct {
	recAgent
	members []node.Member
}

func (a *snapAgent) Members() []node.Member { return a.members }

func clusterFixture() []node.Member {
	maint := node.CheckState{ID: node.MaintenanceCheckID, Status: node.HealthMaintenance, Note: "deploy"}
	return []node.Member{
		{Name: "a", Addr: net.IPv4(127, 0, 0, 1), Status: node.StatusAlive, Services: []node.Service{
			{ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v2"}, Health: node.HealthPassing},
			{ID: "web-2", Name: "web", Port: 8081, Address: net.IPv4(127, 0, 0, 9), Health: node.HealthWarning,
				Checks: []node.CheckState{{ID: "web-2-check", ServiceID: "web-2", Status: node.HealthWarning, Note: "HTTP 429"}}},
		}},
		{Name: "b", Addr: net.IPv4(127, 0, 0, 2), Status: node.StatusAlive, Checks: []node.CheckState{maint}, Health: node.HealthMaintenance,
			Services: []node.Service{{ID: "web", Name: "web", Port: 80, Tags: []string{"v1"}, Health: node.HealthMaintenance}}},
		{Name: "d", Addr: net.IPv4(127, 0, 0, 4), Status: node.StatusSuspect, Services: []node.Service{{Name: "db", Port: 5432}}},
		{Name: "c", Addr: net.IPv4(127, 0, 0, 3), Status: node.StatusFailed,
			Services: []node.Service{{ID: "web", Name: "web", Port: 80, Health: node.HealthPassing}}},
	}
}

func serve(t *testing.T, reg api.Services) *httptest.Server {
	t.Helper()
	s, _ := newServer(t, &snapAgent{members: clusterFixture()}, api.Options{Services: reg})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != "GET" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServices_Requests(t *testing.T) {
	reg := newMemRegistry()
	ts := serve(t, reg)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		wantIn                   string // in the answer
	}{
		{"register", "PUT", "/v1/agent/services/web-1", `{"name":"web","port":8080,"tags":["v2"],"meta":{"v":"1"},"checks":[{"http":"http://127.0.0.1:8080/health","interval":"1s"},{"id":"web-ttl","ttl":"30s"}]}`, 200, `"source":"runtime"`},
		{"registered", "GET", "/v1/agent/services/web-1", "", 200, `"id":"web-1-check-1"`},
		{"register again replaces", "PUT", "/v1/agent/services/web-1", `{"name":"web","port":8081}`, 200, `"port":8081`},
		{"id differs", "PUT", "/v1/agent/services/web-1", `{"id":"web-2","name":"web","port":80}`, 400, `id \"web-2\" in the body differs`},
		{"bad port", "PUT", "/v1/agent/services/x", `{"name":"x","port":0}`, 400, `service port 0 must be from 1 to 65535`},
		{"unknown field", "PUT", "/v1/agent/services/x", `{"name":"x","port":80,"prot":1}`, 400, `unknown field \"prot\"`},
		{"config-owned id", "PUT", "/v1/agent/services/db", `{"name":"db","port":5433}`, 409, `declared in the config`},
		{"deregister config", "DELETE", "/v1/agent/services/db", "", 409, `declared in the config`},
		{"deregister unknown", "DELETE", "/v1/agent/services/nope", "", 404, `no instance \"nope\"`},
		{"unknown instance", "GET", "/v1/agent/services/nope", "", 404, `no service instance \"nope\"`},
		{"ttl pass no body", "PUT", "/v1/agent/checks/web-ttl/pass", "", 200, `{}`},
		{"ttl warn note", "PUT", "/v1/agent/checks/web-ttl/warn", `{"note":"slow disk"}`, 200, `{}`},
		{"ttl bad verb", "PUT", "/v1/agent/checks/web-ttl/ok", "", 404, `not pass, warn or fail`},
		{"ttl unknown", "PUT", "/v1/agent/checks/nope/fail", "", 404, `no ttl check`},
		{"ttl long note", "PUT", "/v1/agent/checks/web-ttl/fail", `{"note":"` + strings.Repeat("x", 2000) + `"}`, 400, `note is 2000 bytes`},
		{"maint node", "PUT", "/v1/agent/maintenance", `{"enable":true,"reason":"kernel"}`, 200, `{}`},
		{"maint shows", "GET", "/v1/agent/services", "", 200, `"health":"maintenance"`},
		{"maint service", "PUT", "/v1/agent/services/web-1/maintenance", `{"enable":true}`, 200, `{}`},
		{"maint unknown", "PUT", "/v1/agent/services/nope/maintenance", `{"enable":true}`, 404, `no instance \"nope\"`},
		{"deregister", "DELETE", "/v1/agent/services/web-1", "", 200, `{}`},
		{"deregistered", "GET", "/v1/agent/services/web-1", "", 404, `no service instance`},
	} {
		code, body := do(t, ts, tc.method, tc.path, tc.body)
		if code != tc.want || !strings.Contains(body, tc.wantIn) {
			t.Errorf("%s: %s %s: got %d %s, want %d with %s", tc.name, tc.method, tc.path, code, body, tc.want, tc.wantIn)
		}
	}
	if got := reg.ttl["web-ttl"]; got != "warning slow disk" {
		t.Errorf("got ttl state %q, want \"warning slow disk\"", got)
	}
	if r, ok := reg.maint["web-1"]; !ok || r != "" {
		t.Errorf("got instance maintenance %q %v, want on", r, ok)
	}
}

func TestServices_NoRegistry(t *testing.T) {
	ts := serve(t, nil)
	if code, body := do(t, ts, "GET", "/v1/agent/services", ""); code != 501 || !strings.Contains(body, "no service registry") {
		t.Errorf("got %d %s, want 501", code, body)
	}
	if code, _ := do(t, ts, "PUT", "/v1/agent/checks/x/pass", ""); code != 501 {
		t.Errorf("ttl update: got %d, want 501", code)
	}
	// The cluster-wide views need no local registry.
	if code, _ := do(t, ts, "GET", "/v1/catalog/services", ""); code != 200 {
		t.Errorf("catalog: got %d, want 200", code)
	}
}

func TestServices_CatalogAndHealth(t *testing.T) {
	ts := serve(t, nil)
	code, body := do(t, ts, "GET", "/v1/catalog/services", "")
	var cat []api.CatalogService
	if err := json.Unmarshal([]byte(body), &cat); code != 200 || err != nil {
		t.Fatalf("got %d %s (%v)", code, body, err)
	}
	// c is failed: its instance is not counted.
	if len(cat) != 2 || cat[0].Name != "db" || cat[0].Instances != 1 || cat[1].Name != "web" || cat[1].Instances != 3 || cat[1].Passing != 1 || cat[1].Warning != 1 ||
		strings.Join(cat[1].Tags, ",") != "v1,v2" {
		t.Errorf("got catalog %+v, want db: 1 instance; web: 3 instances, 1 passing, 1 warning, tags v1,v2", cat)
	}
	// An agent that gossips no instance ID has one instance per name: its ID is the name.
	if _, body := do(t, ts, "GET", "/v1/health/service/db", ""); !strings.Contains(body, `"member":"d","member_status":"suspect","id":"db"`) {
		t.Errorf("got %s, want d's db with id db", body)
	}

	for _, tc := range []struct {
		query string
		want  []string // member/id@address:port health
	}{
		{"", []string{"a/web-1@127.0.0.1:8080 passing", "a/web-2@127.0.0.9:8081 warning", "b/web@127.0.0.2:80 maintenance"}},
		{"?passing", []string{"a/web-1@127.0.0.1:8080 passing"}},
		{"?passing=false&tag=v1", []string{"b/web@127.0.0.2:80 maintenance"}},
	} {
		code, body := do(t, ts, "GET", "/v1/health/service/web"+tc.query, "")
		var insts []api.ServiceInstance
		if err := json.Unmarshal([]byte(body), &insts); code != 200 || err != nil {
			t.Fatalf("%s: got %d %s (%v)", tc.query, code, body, err)
		}
		var got []string
		for _, in := range insts {
			got = append(got, fmt.Sprintf("%s/%s@%s:%d %s", in.Member, in.ID, in.Address, in.Port, in.Health))
		}
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("%s: got %q, want %q", tc.query, got, tc.want)
		}
	}
	// A member's node checks come with each of its instances.
	_, body = do(t, ts, "GET", "/v1/health/service/web?tag=v1", "")
	if !strings.Contains(body, `"id":"_maintenance","status":"maintenance","note":"deploy"`) {
		t.Errorf("got %s, want the member's maintenance check", body)
	}
	if code, body := do(t, ts, "GET", "/v1/health/service/web?passing=maybe", ""); code != 400 || !strings.Contains(body, "passing") {
		t.Errorf("got %d %s, want 400 naming passing", code, body)
	}
	if _, body := do(t, ts, "GET", "/v1/health/service/nope", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("got %s for an unknown service, want []", body)
	}
}
