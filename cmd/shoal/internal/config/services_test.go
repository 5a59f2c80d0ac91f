package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/node"
)

const servicesHCL = `
data_dir = "/var/lib/shoal"
service {
  id      = "web-1"
  name    = "web"
  address = "127.0.0.2"
  port    = 8080
  tags    = ["v2", "eu"]
  weight  = 5
  meta    = { version = "1.4", owner = "team-a" }
  check {
    http     = "http://127.0.0.1:8080/health"
    method   = "HEAD"
    header   = { "X-Probe" = ["shoal"] }
    interval = "1s"
    timeout  = "500ms"
    success_before_passing   = 2
    failures_before_critical = 3
  }
  check {
    id  = "web-ttl"
    ttl = "30s"
    initial_status = "passing"
  }
}
service {
  id   = "web-2"
  name = "web"
  port = 8081
  check {
    tcp = "127.0.0.1:8081"
  }
}
check {
  name = "disk"
  args = ["/usr/local/bin/check-disk", "-min", "10%"]
  interval = "30s"
}
`

func TestLoad_ServicesAndChecks(t *testing.T) {
	p := write(t, t.TempDir(), "svc.hcl", servicesHCL)
	c, err := load(t, "-config-file", p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/shoal" || c.StateDir() != "/var/lib/shoal" {
		t.Errorf("got data dir %q state dir %q, want /var/lib/shoal", c.DataDir, c.StateDir())
	}
	if len(c.ServiceDefs) != 2 {
		t.Fatalf("got %d services, want 2: %+v", len(c.ServiceDefs), c.ServiceDefs)
	}
	w := c.ServiceDefs[0]
	if w.ID != "web-1" || w.Name != "web" || w.Address != "127.0.0.2" || w.Port != 8080 || w.Weight != 5 ||
		!slices.Equal(w.Tags, []string{"v2", "eu"}) || w.Meta["version"] != "1.4" || len(w.Checks) != 2 {
		t.Errorf("got service %+v", w)
	}
	h := w.Checks[0]
	want := CheckDef{ID: "web-1-check", HTTP: "http://127.0.0.1:8080/health", Method: "HEAD",
		Interval: time.Second, Timeout: 500 * time.Millisecond, SuccessBeforePassing: 2, FailuresBeforeCritical: 3}
	if h.ID != want.ID || h.HTTP != want.HTTP || h.Method != want.Method || h.Interval != want.Interval || h.Timeout != want.Timeout ||
		h.SuccessBeforePassing != 2 || h.FailuresBeforeCritical != 3 || h.Header["X-Probe"][0] != "shoal" || h.InitialSet {
		t.Errorf("got http check %+v, want %+v", h, want)
	}
	if ttl := w.Checks[1]; ttl.ID != "web-ttl" || ttl.TTL != 30*time.Second || ttl.Interval != 0 || !ttl.InitialSet || ttl.Initial != node.HealthPassing {
		t.Errorf("got ttl check %+v, want web-ttl 30s initially passing", ttl)
	}
	w2 := c.ServiceDefs[1]
	if w2.Weight != 1 || len(w2.Checks) != 1 || w2.Checks[0].ID != "web-2-check" || w2.Checks[0].Interval != DefaultCheckInterval {
		t.Errorf("got second instance %+v, want weight 1, check web-2-check every %s", w2, DefaultCheckInterval)
	}
	if len(c.NodeChecks) != 1 || c.NodeChecks[0].ID != "node-check" || c.NodeChecks[0].Name != "disk" || len(c.NodeChecks[0].Args) != 3 {
		t.Errorf("got node checks %+v", c.NodeChecks)
	}
	// What node gossips until the registry takes over.
	if len(c.Services) != 2 || c.Services[0].ID != "web-1" || !c.Services[0].Address.Equal([]byte{127, 0, 0, 2}) || c.Services[1].Address != nil || c.Services[1].Port != 8081 {
		t.Errorf("got node services %+v", c.Services)
	}
}

func TestLoad_ServicesJSON(t *testing.T) {
	p := write(t, t.TempDir(), "svc.json", `{
  "service": [{"name": "api", "port": 9000, "meta": {"v": "1"},
               "check": [{"http": "http://127.0.0.1:9000/", "interval": "2s"}, {"ttl": "10s", "id": "api-ttl"}]}],
  "check": {"tcp": "127.0.0.1:22", "id": "ssh"}
}`)
	c, err := load(t, "-config-file", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ServiceDefs) != 1 || c.ServiceDefs[0].ID != "api" || len(c.ServiceDefs[0].Checks) != 2 || c.ServiceDefs[0].Checks[0].Interval != 2*time.Second {
		t.Errorf("got services %+v", c.ServiceDefs)
	}
	if len(c.NodeChecks) != 1 || c.NodeChecks[0].ID != "ssh" || c.NodeChecks[0].TCP != "127.0.0.1:22" {
		t.Errorf("got node checks %+v", c.NodeChecks)
	}
}

// Files written before checks existed load as they did: a service block
// of name, port, tags and weight, and the -service flag.
func TestLoad_ServicesOldSyntax(t *testing.T) {
	p := write(t, t.TempDir(), "old.hcl", `
service {
  name   = "db"
  port   = 5432
  tags   = ["primary"]
  weight = 3
}`)
	c, err := load(t, "-config-file", p, "-service", "cache:6379:eu")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ServiceDefs) != 2 || c.ServiceDefs[0].ID != "db" || c.ServiceDefs[0].Weight != 3 || c.ServiceDefs[1].ID != "cache" || c.ServiceDefs[1].Port != 6379 {
		t.Errorf("got service defs %+v", c.ServiceDefs)
	}
	if len(c.Services) != 2 || c.Services[0].Name != "db" || c.Services[0].Port != 5432 || c.Services[0].Tags[0] != "primary" || c.Services[1].Tags[0] != "eu" {
		t.Errorf("got node services %+v", c.Services)
	}
	if c.StateDir() != "" {
		t.Errorf("got state dir %q without data_dir, want none", c.StateDir())
	}
}

func TestLoad_DataDirFlagAndDev(t *testing.T) {
	c, err := load(t, "-data-dir", "/tmp/x")
	if err != nil || c.StateDir() != "/tmp/x" {
		t.Errorf("got state dir %q, err %v, want /tmp/x", c.StateDir(), err)
	}
	c, err = load(t, "-dev")
	if err != nil || c.StateDir() != DefaultDevDestDir {
		t.Errorf("-dev: got state dir %q, err %v, want %s", c.StateDir(), err, DefaultDevDestDir)
	}
}

// Every bad value is reported with the file, the block and the field.
func TestLoad_ServiceErrorsNameFileBlockAndField(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"bad name", "service {\nname = \"we b\"\nport = 80\n}", `service[0] "we b": service name "we b" must be a DNS label`},
		{"port zero", "service {\nname = \"web\"\nport = 0\n}", `service[0] "web": service port 0 must be from 1 to 65535`},
		{"port too big", "service {\nname = \"web\"\nport = 70000\n}", `service port 70000 must be from 1 to 65535`},
		{"bad id", "service {\nid = \"a b\"\nname = \"web\"\nport = 80\n}", `service[0] "web": id "a b" must be 1-64 letters`},
		{"address name", "service {\nname = \"web\"\nport = 80\naddress = \"web.local\"\n}", `address "web.local" is not an IP address`},
		{"address unspecified", "service {\nname = \"web\"\nport = 80\naddress = \"0.0.0.0\"\n}", `address "0.0.0.0" cannot be reached`},
		{"meta key", "service {\nname = \"web\"\nport = 80\nmeta = { \"a b\" = \"x\" }\n}", `meta key "a b" must be`},
		{"duplicate id", "service {\nname = \"web\"\nport = 80\n}\nservice {\nname = \"web\"\nport = 81\n}", `service id "web" is declared twice`},
		{"duplicate check id", "service {\nname = \"web\"\nport = 80\ncheck {\nid = \"c\"\nttl = \"5s\"\n}\n}\ncheck {\nid = \"c\"\nttl = \"5s\"\n}", `check id "c" is used by service "web" and by a node check`},
		{"no kind", "service {\nname = \"web\"\nport = 80\ncheck {\ninterval = \"1s\"\n}\n}", `service[0] "web": check[0]: no kind: set one of http, tcp, args or ttl`},
		{"two kinds", "service {\nname = \"web\"\nport = 80\ncheck {\nhttp = \"http://127.0.0.1/\"\ntcp = \"127.0.0.1:80\"\n}\n}", `check[0]: http and tcp are set: a check has exactly one`},
		{"short interval", "service {\nname = \"web\"\nport = 80\ncheck {\ntcp = \"127.0.0.1:80\"\ninterval = \"50ms\"\n}\n}", `check[0]: interval = 50ms: must be between 100ms and 24h`},
		{"ttl with interval", "check {\nttl = \"5s\"\ninterval = \"1s\"\n}", `check[0]: interval and timeout have no meaning for a ttl check`},
		{"bad duration", "check {\ntcp = \"127.0.0.1:80\"\ninterval = \"soon\"\n}", `check[0]: interval: "soon" is not a duration`},
		{"bad status", "check {\nttl = \"5s\"\ninitial_status = \"maintenance\"\n}", `check[0]: initial_status: "maintenance" is not passing, warning or critical`},
		{"bad url", "check {\nhttp = \"127.0.0.1:80/health\"\n}", `check[0]: http "127.0.0.1:80/health" is not an http:// or https:// URL`},
		{"bad tcp", "check {\ntcp = \"127.0.0.1\"\n}", `check[0]: tcp "127.0.0.1" is not HOST:PORT`},
		{"empty program", "check {\nargs = [\"\"]\n}", `check[0]: args[0], the program, is empty`},
		{"method without http", "check {\ntcp = \"127.0.0.1:80\"\nmethod = \"GET\"\n}", `check[0]: method and header are options of an http check`},
		{"reserved id", "check {\nid = \"_maintenance\"\nttl = \"5s\"\n}", `check[0]: id "_maintenance": IDs starting with '_' are reserved`},
		{"negative count", "check {\nttl = \"5s\"\nfailures_before_critical = -1\n}", `failures_before_critical = -1: must be between 0 and 1000`},
		{"weight", "service {\nname = \"web\"\nport = 80\nweight = 70000\n}", `service weight 70000 must be from 0 to 65535`},
		{"bad header", "check {\nhttp = \"http://127.0.0.1/\"\nheader = { \"X A\" = [\"v\"] }\n}", `check[0]: header "X A" is not a header name`},
		{"long timeout", "check {\ntcp = \"127.0.0.1:80\"\ntimeout = \"2h\"\n}", `check[0]: timeout = 2h: must be between 10ms and 1h`},
		{"short ttl", "check {\nttl = \"1ms\"\n}", `check[0]: ttl = 1ms: must be between 100ms and 24h`},
		{"tcp port", "check {\ntcp = \"127.0.0.1:0\"\n}", `tcp "127.0.0.1:0" is not HOST:PORT with a port from 1 to 65535`},
		{"unknown key", "check {\nttl = \"5s\"\nintervall = \"1s\"\n}", `Unsupported argument`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "svc.hcl", tc.body)
			_, err := load(t, "-config-file", p)
			if err == nil {
				t.Fatalf("loaded %q, want an error containing %q", tc.body, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
			// Cross-block rules (duplicate ids) span files; the rest name theirs.
			if !strings.HasPrefix(tc.name, "duplicate") && !strings.Contains(err.Error(), filepath.Base(p)) {
				t.Errorf("got error %q, want it to name the file", err)
			}
		})
	}
}

// Duplicate ids are found across files too.
func TestLoad_ServiceIDsUniqueAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.hcl", "service {\nid = \"w\"\nname = \"web\"\nport = 80\n}")
	write(t, dir, "b.hcl", "service {\nid = \"w\"\nname = \"api\"\nport = 81\n}")
	_, err := load(t, "-config-dir", dir)
	if err == nil || !strings.Contains(err.Error(), `service id "w" is declared twice`) {
		t.Errorf("got %v, want the duplicate id named", err)
	}
}

// Several instances of one service on one node: different ids and ports.
func TestServiceDef_SeveralInstances(t *testing.T) {
	defs := []ServiceDef{{Name: "web", ID: "web-a", Port: 80, Weight: 1}, {Name: "web", ID: "web-b", Port: 81, Weight: 1}}
	for i := range defs {
		defs[i].SetDefaults()
		if err := defs[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if errs := CheckIDs(defs, nil); len(errs) != 0 {
		t.Errorf("got %v, want two instances of web accepted", errs)
	}
}
