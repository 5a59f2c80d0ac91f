package render

import (
	"os"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFuncs(t *testing.T) {
	runTextCases(t, webCluster, []textCase{
		{"service", `{{ range service "web" }}{{ .Node }}/{{ .Weight }} {{ end }}`, "web1/5 web2/10 ", 2},
		{"service by tag", `{{ range service "v2.web" }}{{ .Node }} {{ end }}`, "web2 ", 1},
		{"unknown service", `{{ len (service "nope") }}`, "0", 0},
		{"unknown tag", `{{ len (service "v9.web") }}`, "0", 0},
		{"services", `{{ range services }}{{ .Name }}:{{ .Port }}:{{ len .Instances }} {{ end }}`, "api:9090:1 web:8080:2 ", 3},
		{"service twice counts once", `{{ $a := service "web" }}{{ $b := service "v2.web" }}`, "", 2},
		{"members all", `{{ range members }}{{ .Name }} {{ end }}`, "lb1 web1 web2 web3 ", 0},
		{"members status", `{{ range members "failed" }}{{ .Name }} {{ end }}`, "web3 ", 0},
		{"members tag", `{{ range members "alive" "role=web" }}{{ .Name }} {{ end }}`, "web1 web2 ", 0},
		{"members has tag", `{{ range members "zone" }}{{ .Name }} {{ end }}`, "lb1 ", 0},
		{"members lacks tag", `{{ range members "any" "!zone" "role" }}{{ .Name }} {{ end }}`, "web1 web2 web3 ", 0},
		{"tag of self", `{{ .Self | tag "zone" }}`, "a", 0},
		{"tag of instance", `{{ range service "web" }}{{ tag "role" . }} {{ end }}`, "web web ", 2},
		{"listenPort from name", `{{ range services }}{{ listenPort . }} {{ end }}`, "5567 8825 ", 3},
		{"listenPort by name", `{{ listenPort "web" }}`, "8825", 0},
		{"listenPort twice", `{{ listenPort "web" }} {{ listenPort "web" }}`, "8825 8825", 0},
		{"has tag", `{{ range service "web" }}{{ .HasTag "v1" }} {{ end }}`, "true false ", 2},
		{"sprig", `{{ list "b" "a" | sortAlpha | join "," }}`, "a,b", 0},
	})
}

func TestFuncs_Errors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"missing key", `{{ .Vars.nope }}`, "nope"},
		{"tag of a string", `{{ tag "x" "y" }}`, "want a Member"},
		{"empty filter key", `{{ members "=x" }}`, "no tag key"},
		{"no env", `{{ env "HOME" }}`, "function \"env\" not defined"},
		{"two services, one port", `{{ listenPort "web" }}{{ listenPort "api" }}`, "listenPort api: port 9000 is taken by service web"},
		{"service on the stats port", `{{ listenPort "db" }}`, "listenPort db: port 23683 is taken by the stats page"},
		{"old listen_offset", `{{ listenPort "cache" }}`, "listen_offset is no longer used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir+"/t.tmpl", tc.text)
			tmpl, err := ParseTemplate(dir + "/t.tmpl")
			if err != nil {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
				t.Fatal(err)
			}
			d := NewData(webCluster())
			d.Vars = map[string]string{"listen.web": "9000", "listen.api": "9000", "stats_port": "23683"}
			if tc.name == "old listen_offset" {
				d.Vars = map[string]string{"listen_offset": "10000"}
			}
			_, _, err = tmpl.Execute(d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestListenPort(t *testing.T) {
	d := NewData(webCluster())
	d.Vars = map[string]string{"listen.api": "81"}
	d.Self.Tags = map[string]string{"listen.web": "80"}
	for _, tc := range []struct {
		name string
		want int
	}{
		{"web", 80},   // self tag
		{"api", 81},   // var
		{"db", 23683}, // 20000 + FNV-1a("db") % 10000
		{"stats", 23564},
	} {
		got, err := listenPort(d, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v, want %d", tc.name, got, err, tc.want)
		}
	}
	d.Vars["listen_base"] = "60000"
	if _, err := listenPort(d, "db"); err == nil {
		t.Errorf("listen_base 60000 + span 10000: got no error, want one")
	}
	d.Self.Tags["listen.web"] = "eighty"
	if _, err := listenPort(d, "web"); err == nil {
		t.Errorf("non-numeric tag: got no error, want one")
	}
}

// TestListenPort_StableUnderChurn: a frontend's port depends on the
// service's name only, so an instance with a lower port joining (which
// used to move the frontend) changes nothing.
func TestListenPort_StableUnderChurn(t *testing.T) {
	text := `{{ range services }}{{ .Name }}={{ listenPort . }} {{ end }}`
	before, _, err := execText(t, text, webCluster())
	if err != nil {
		t.Fatal(err)
	}
	s := webCluster()
	s.Members = append(s.Members, member("web9", 19, svc("web", 80, 1)))
	after, _, err := execText(t, text, s)
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("frontends moved when a web instance on port 80 joined: got %q, want %q", after, before)
	}
}
