package agent

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/dns"
)

func loadConfig(t *testing.T, body string) config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.hcl")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := config.ParseFlags([]string{"-config-file", p}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDNSConfig_Limits(t *testing.T) {
	got := dnsConfig(loadConfig(t, `
dns {
  tcp_max_conns         = 20
  tcp_idle_timeout      = "3s"
  max_inflight_forwards = 30
  recursor_timeout      = "1500ms"
}
`))
	if got.TCPMaxConns != 20 || got.IdleTimeout != 3*time.Second || got.MaxInflightForwards != 30 ||
		got.RecursorTimeout != 1500*time.Millisecond {
		t.Errorf("got tcp_max_conns %d, tcp_idle_timeout %s, max_inflight_forwards %d, recursor_timeout %s; want 20, 3s, 30, 1.5s",
			got.TCPMaxConns, got.IdleTimeout, got.MaxInflightForwards, got.RecursorTimeout)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("mapped config does not validate: %v", err)
	}

	def, want := dnsConfig(loadConfig(t, "")), dns.DefaultConfig()
	if def.TCPMaxConns != want.TCPMaxConns || def.IdleTimeout != want.IdleTimeout ||
		def.MaxInflightForwards != want.MaxInflightForwards || def.RecursorTimeout != want.RecursorTimeout {
		t.Errorf("unset: got %d, %s, %d, %s; want package dns's defaults %d, %s, %d, %s",
			def.TCPMaxConns, def.IdleTimeout, def.MaxInflightForwards, def.RecursorTimeout,
			want.TCPMaxConns, want.IdleTimeout, want.MaxInflightForwards, want.RecursorTimeout)
	}
}

func TestDNSConfig_Parity(t *testing.T) {
	got := dnsConfig(loadConfig(t, `
alt_domain = "shoal.example.com"
dns {
  udp_answer_limit = 3
  soa {
    refresh = "2h"
    min_ttl = "30s"
  }
}
`))
	def := dns.DefaultConfig()
	if got.AltDomain != "shoal.example.com." || got.UDPAnswerLimit != 3 || got.SOARefresh != 2*time.Hour ||
		got.SOARetry != def.SOARetry || got.SOAExpire != def.SOAExpire || got.NegativeTTL != 30*time.Second {
		t.Errorf("got alt %q, udp_answer_limit %d, soa %s/%s/%s, negative ttl %s; want shoal.example.com., 3, 2h/%s/%s, 30s",
			got.AltDomain, got.UDPAnswerLimit, got.SOARefresh, got.SOARetry, got.SOAExpire, got.NegativeTTL,
			def.SOARetry, def.SOAExpire)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("mapped config does not validate: %v", err)
	}
}
