package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// askDNS asks addr one question over proto.
func askDNS(addr, proto, name string, qtype uint16) (*mdns.Msg, error) {
	c := &mdns.Client{Net: proto, Timeout: 5 * time.Second}
	q := new(mdns.Msg).SetQuestion(name, qtype)
	r, _, err := c.Exchange(q, addr)
	return r, err
}

// TestDNS_SIGHUPReloadsSettings: a changed dns block (TTL, alt domain, SOA)
// takes effect on SIGHUP, served on the sockets the agent already had, and
// needs no restart.
func TestDNS_SIGHUPReloadsSettings(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "dns.hcl")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const service = "service {\n  name = \"web\"\n  port = 8080\n}\n"
	write(service + "dns {\n  service_ttl = \"5s\"\n}\n")
	a := startAgent(t, "dns-reload", nil, "-config-file", conf)

	// wantTTL waits until name's A record has ttl over UDP and TCP.
	wantTTL := func(name string, ttl uint32) {
		t.Helper()
		for _, proto := range []string{"udp", "tcp"} {
			testutil.WaitFor(t, wait, func() error {
				r, err := askDNS(a.dns, proto, name, mdns.TypeA)
				if err != nil {
					return err
				}
				if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != ttl {
					return fmt.Errorf("%s A %s: got %v (%s), want one record with TTL %d",
						proto, name, r.Answer, mdns.RcodeToString[r.Rcode], ttl)
				}
				return nil
			})
		}
	}
	wantTTL("web.service.shoal.", 5)

	write(service + `alt_domain = "shoal.example.com"
dns {
  service_ttl = "42s"
  soa {
    refresh = "2h"
  }
}
`)
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.waitLog("DNS settings reloaded")
	wantTTL("web.service.shoal.", 42)
	wantTTL("web.service.shoal.example.com.", 42)
	for _, proto := range []string{"udp", "tcp"} {
		r, err := askDNS(a.dns, proto, "shoal.example.com.", mdns.TypeSOA)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*mdns.SOA).Refresh != 7200 {
			t.Errorf("%s SOA of the alt domain after reload: got %v (%v), want refresh 7200", proto, r, err)
		}
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Log("dig not installed (apt-get install bind9-dnsutils); skipping the dig check")
	} else {
		host, port, _ := strings.Cut(a.dns, ":")
		out, err := exec.Command("dig", "@"+host, "-p", port, "+noall", "+answer", "web.service.shoal.example.com", "A").CombinedOutput()
		if f := strings.Fields(string(out)); err != nil || len(f) != 5 || f[1] != "42" || f[4] != "127.0.0.1" {
			t.Errorf("dig web.service.shoal.example.com: got %q (%v), want TTL 42 and 127.0.0.1", out, err)
		}
	}
	if rec, ok := a.findLog(func(r map[string]any) bool { return r["msg"] == "config change needs a restart to take effect" }); ok {
		t.Errorf("a dns change asked for a restart: %v", rec)
	}
}
