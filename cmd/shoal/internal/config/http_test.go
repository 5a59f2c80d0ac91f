package config

import (
	"slices"
	"strings"
	"testing"
)

func TestLoad_HTTPRules(t *testing.T) {
	dir := t.TempDir()
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxConns != DefaultHTTPMaxConns || c.HTTP.MaxConnsPerClient != DefaultHTTPMaxConnsPerClient || len(c.HTTP.AllowedHosts) != 0 {
		t.Errorf("defaults: got %+v, want %d total, %d per client, no names", c.HTTP, DefaultHTTPMaxConns, DefaultHTTPMaxConnsPerClient)
	}

	h := write(t, dir, "a.hcl", `
http_allowed_hosts        = ["Shoal.Internal.", "lb-1.example.com"]
http_max_conns            = 100
http_max_conns_per_client = 10
`)
	j := write(t, dir, "b.json", `{"http_allowed_hosts": ["other.example"]}`)
	c, err = load(t, "-config-file", h, "-config-file", j)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"shoal.internal", "lb-1.example.com", "other.example"}
	if !slices.Equal(c.HTTP.AllowedHosts, want) || c.HTTP.MaxConns != 100 || c.HTTP.MaxConnsPerClient != 10 {
		t.Errorf("got %+v, want names %v, 100 total, 10 per client", c.HTTP, want)
	}
}

func TestLoad_HTTPRulesRejected(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"port", `http_allowed_hosts = ["shoal.internal:7373"]`, []string{"http_allowed_hosts[0]", "not a host name"}},
		{"scheme", `http_allowed_hosts = ["ok.example", "http://shoal.internal"]`, []string{"http_allowed_hosts[1]", "not a host name"}},
		{"wildcard", `http_allowed_hosts = ["*.example"]`, []string{"http_allowed_hosts[0]", "wildcard"}},
		{"empty", `http_allowed_hosts = [""]`, []string{"http_allowed_hosts[0]", "empty"}},
		{"ip", `http_allowed_hosts = ["10.0.0.1"]`, []string{"http_allowed_hosts[0]", "always allowed"}},
		{"zero total", `http_max_conns = 0`, []string{"http_max_conns", "not within 1..100000"}},
		{"negative per client", `http_max_conns_per_client = -1`, []string{"http_max_conns_per_client", "not within 1..100000"}},
		{"huge", `http_max_conns = 1000000`, []string{"http_max_conns", "not within 1..100000"}},
		{"per client above total", "http_max_conns = 10\nhttp_max_conns_per_client = 20", []string{"http_max_conns_per_client 20 is more than http_max_conns 10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "bad.hcl", tc.body)
			_, err := load(t, "-config-file", p)
			if err == nil {
				t.Fatalf("%s: got no error, want one naming %v", tc.body, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
