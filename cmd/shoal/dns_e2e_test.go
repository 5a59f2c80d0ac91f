package main_test

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// srvTargets asks addr for the SRV records of name over proto and returns
// "target:port" sorted.
func srvTargets(addr, proto, name string) ([]string, *mdns.Msg, error) {
	c := &mdns.Client{Net: proto, Timeout: 2 * time.Second}
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeSRV)
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if srv, ok := rr.(*mdns.SRV); ok {
			out = append(out, fmt.Sprintf("%s:%d", srv.Target, srv.Port))
		}
	}
	sort.Strings(out)
	return out, r, nil
}

func TestDNS_AnswersFromLiveMembership(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "dns-a", nil, "-service", "web:8081:v1")
	startAgent(t, "dns-b", nil, "-service", "web:8082:v2", "-join", a.gossip)
	c := startAgent(t, "dns-c", nil, "-service", "web:8083:v2", "-join", a.gossip)
	a.waitStatus(map[string]string{"dns-a": "alive", "dns-b": "alive", "dns-c": "alive"})
	if a.dns == "" {
		t.Fatal("agent did not report a DNS address")
	}

	all := []string{"dns-a.node.shoal.:8081", "dns-b.node.shoal.:8082", "dns-c.node.shoal.:8083"}
	for _, proto := range []string{"udp", "tcp"} {
		testutil.WaitFor(t, wait, func() error {
			got, r, err := srvTargets(a.dns, proto, "web.service.shoal.")
			if err != nil {
				return err
			}
			if !slices.Equal(got, all) {
				return fmt.Errorf("%s SRV web: got %v, want %v", proto, got, all)
			}
			if len(r.Extra) < 3 {
				return fmt.Errorf("%s SRV web: %d additional records, want the 3 node addresses", proto, len(r.Extra))
			}
			return nil
		})
	}
	got, _, err := srvTargets(a.dns, "udp", "v2.web.service.shoal.")
	if err != nil || !slices.Equal(got, all[1:]) {
		t.Errorf("tag filter v2: got %v (%v), want %v", got, err, all[1:])
	}
	got, _, err = srvTargets(a.dns, "udp", "_web._v1.service.shoal.")
	if err != nil || !slices.Equal(got, all[:1]) {
		t.Errorf("RFC 2782 _web._v1: got %v (%v), want %v", got, err, all[:1])
	}

	// dig, the tool operators use, over the same server.
	if _, err := exec.LookPath("dig"); err != nil {
		t.Log("dig not installed (apt-get install bind9-dnsutils); skipping the dig check")
	} else {
		host, port, _ := strings.Cut(a.dns, ":")
		out, err := exec.Command("dig", "@"+host, "-p", port, "+short", "dns-b.node.shoal", "A").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "127.0.0.1" {
			t.Errorf("dig dns-b.node.shoal: got %q (%v), want 127.0.0.1", out, err)
		}
		out, _ = exec.Command("dig", "@"+host, "-p", port, "nobody.node.shoal", "A").CombinedOutput()
		if !strings.Contains(string(out), "status: NXDOMAIN") || !strings.Contains(string(out), "AUTHORITY SECTION") {
			t.Errorf("dig nobody.node.shoal: want NXDOMAIN with an authority SOA, got:\n%s", out)
		}
	}

	// A member killed with SIGKILL leaves the answers once it is marked failed.
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(map[string]string{"dns-a": "alive", "dns-b": "alive", "dns-c": "failed"})
	testutil.WaitFor(t, wait, func() error {
		got, _, err := srvTargets(a.dns, "udp", "web.service.shoal.")
		if err != nil {
			return err
		}
		if !slices.Equal(got, all[:2]) {
			return fmt.Errorf("after SIGKILL of dns-c: got %v, want %v", got, all[:2])
		}
		return nil
	})
	q := new(mdns.Msg)
	q.SetQuestion("dns-c.node.shoal.", mdns.TypeA)
	r, err := mdns.Exchange(q, a.dns)
	if err != nil || r.Rcode != mdns.RcodeNameError {
		t.Errorf("failed member's node name: got rcode %v (%v), want NXDOMAIN", r, err)
	}
}
