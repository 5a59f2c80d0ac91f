package dns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// Consul parity: alt_domain, .addr. names, udp_answer_limit, the SOA
// timers, and settings reloaded without a restart. Each table runs on every
// path (the handler over UDP and TCP, the UDP loop's packet path) and then
// over real UDP and TCP against a running server.

// parityConfig answers shoal. and shoal.example.com., with SOA timers of
// its own.
func parityConfig() Config {
	cfg := testConfig()
	cfg.AltDomain = "shoal.example.com"
	cfg.NegativeTTL = 30 * time.Second
	cfg.SOARefresh, cfg.SOARetry, cfg.SOAExpire = 2*time.Hour, 5*time.Minute, 14*24*time.Hour
	return cfg
}

type parityCase struct {
	name   string
	qname  string
	qtype  uint16
	rcode  int
	answer []string // as rdata renders them
	ns     []string
	owners string // the owner name every answer must carry, when set
}

func parityCases() []parityCase {
	soa := []string{"SOA alpha.node.shoal. hostmaster.shoal. 7 7200 300 1209600 30"}
	altSOA := []string{"SOA alpha.node.shoal.example.com. hostmaster.shoal.example.com. 7 7200 300 1209600 30"}
	return []parityCase{
		{"SOA timers", "shoal.", mdns.TypeSOA, mdns.RcodeSuccess, soa, nil, ""},
		{"negative answer carries the SOA", "nobody.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},

		{"alt node A", "alpha.node.shoal.example.com.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1"}, nil, "alpha.node.shoal.example.com."},
		{"alt service SRV targets in the alt domain", "v1.web.service.shoal.example.com.", mdns.TypeSRV,
			mdns.RcodeSuccess, []string{"SRV 1 5 8081 beta.node.shoal.example.com."}, nil, ""},
		{"alt service A", "web.service.shoal.example.com.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1", "A 10.0.0.2"}, nil, "web.service.shoal.example.com."},
		{"alt SOA", "shoal.example.com.", mdns.TypeSOA, mdns.RcodeSuccess, altSOA, nil, ""},
		{"alt NS", "shoal.example.com.", mdns.TypeNS, mdns.RcodeSuccess,
			[]string{"NS alpha.node.shoal.example.com."}, nil, ""},
		{"alt NXDOMAIN carries the alt SOA", "nobody.node.shoal.example.com.", mdns.TypeA,
			mdns.RcodeNameError, nil, altSOA, ""},
		{"alt NODATA carries the alt SOA", "web.service.shoal.example.com.", mdns.TypeTXT,
			mdns.RcodeSuccess, nil, altSOA, ""},
		{"alt parent is outside", "example.com.", mdns.TypeA, mdns.RcodeRefused, nil, nil, ""},

		{"addr IPv4", "0a000063.addr.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.99"}, nil, "0a000063.addr.shoal."},
		{"addr IPv4 upper-case hex", "0A0000FF.addr.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.255"}, nil, "0A0000FF.addr.shoal."},
		{"addr IPv6", "fd000000000000000000000000000003.addr.shoal.", mdns.TypeAAAA, mdns.RcodeSuccess,
			[]string{"AAAA fd00::3"}, nil, ""},
		{"addr ANY", "7f000001.addr.shoal.", mdns.TypeANY, mdns.RcodeSuccess,
			[]string{"A 127.0.0.1"}, nil, ""},
		{"addr IPv4 asked AAAA is NODATA", "7f000001.addr.shoal.", mdns.TypeAAAA, mdns.RcodeSuccess,
			nil, soa, ""},
		{"addr in the alt domain", "7f000001.addr.shoal.example.com.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 127.0.0.1"}, nil, ""},
		{"addr parent is NODATA", "addr.shoal.", mdns.TypeA, mdns.RcodeSuccess, nil, soa, ""},
		{"addr bad hex", "7f00000g.addr.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},
		{"addr 7 digits", "7f00001.addr.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},
		{"addr 16 digits", "7f0000017f000001.addr.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},
		{"addr two labels", "7f00.0001.addr.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},
		{"addr under a node", "7f000001.addr.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, ""},
	}
}

func checkParity(t *testing.T, tc parityCase, path string, got *mdns.Msg) {
	t.Helper()
	if got.Rcode != tc.rcode {
		t.Fatalf("%s %s: rcode: got %s, want %s", path, tc.qname, mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
	}
	if g := rdata(got.Answer); !slices.Equal(g, tc.answer) {
		t.Errorf("%s %s: answer: got %q, want %q", path, tc.qname, g, tc.answer)
	}
	if g := rdata(got.Ns); !slices.Equal(g, tc.ns) {
		t.Errorf("%s %s: authority: got %q, want %q", path, tc.qname, g, tc.ns)
	}
	for _, rr := range got.Answer {
		if tc.owners != "" && rr.Header().Name != tc.owners {
			t.Errorf("%s %s: answer owner: got %q, want %q", path, tc.qname, rr.Header().Name, tc.owners)
		}
	}
	for _, rr := range got.Extra {
		if n := rr.Header().Name; rr.Header().Rrtype != mdns.TypeOPT && strings.HasSuffix(tc.qname, ".example.com.") &&
			!strings.HasSuffix(n, ".shoal.example.com.") {
			t.Errorf("%s %s: additional record %q is outside the domain asked", path, tc.qname, n)
		}
	}
}

func TestHandler_Parity(t *testing.T) {
	h := newHandler(parityConfig(), testLogger(t))
	h.update(testSnapshot())
	for _, tc := range parityCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := paths(t, h, query(tc.qname, tc.qtype, 0))
			for _, path := range slices.Sorted(maps.Keys(got)) {
				checkParity(t, tc, path, got[path])
			}
		})
	}
}

func TestServer_Parity(t *testing.T) {
	srv := startServer(t, parityConfig(), newView(testSnapshot()))
	for _, tc := range parityCases() {
		got := e2e(t, srv.Addr(), query(tc.qname, tc.qtype, 1232))
		for _, path := range slices.Sorted(maps.Keys(got)) {
			checkParity(t, tc, path, got[path])
		}
	}
}

func TestServer_ParityDig(t *testing.T) {
	srv := startServer(t, parityConfig(), newView(testSnapshot()))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"alpha.node.shoal.example.com", "A"}, []string{"10.0.0.1"}},
		{[]string{"+tcp", "_web._v1.service.shoal.example.com", "SRV"}, []string{"1 5 8081 beta.node.shoal.example.com."}},
		{[]string{"shoal.example.com", "SOA"}, []string{
			"alpha.node.shoal.example.com. hostmaster.shoal.example.com. 7 7200 300 1209600 30"}},
		{[]string{"c0a80001.addr.shoal", "A"}, []string{"192.168.0.1"}},
		{[]string{"+tcp", "20010db8000000000000000000000001.addr.shoal.example.com", "AAAA"}, []string{"2001:db8::1"}},
	} {
		if got := dig(t, srv.Addr(), tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("dig %s: got %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// TestHandler_UDPAnswerLimit: udp_answer_limit caps A/AAAA over UDP only,
// max_answers over both, the lower cap wins over UDP; SRV is never capped.
// A capped answer is a chosen subset, not a truncation: no TC.
func TestHandler_UDPAnswerLimit(t *testing.T) {
	for _, tc := range []struct {
		maxAnswers, udpLimit int
		qtype                uint16
		wantUDP, wantTCP     int
	}{
		{0, 3, mdns.TypeA, 3, 20},
		{0, 3, mdns.TypeANY, 3, 20},
		{5, 3, mdns.TypeA, 3, 5},
		{2, 3, mdns.TypeA, 2, 2},
		{0, 0, mdns.TypeA, 20, 20},
		{0, 3, mdns.TypeSRV, 20, 20},
	} {
		cfg := testConfig()
		cfg.MaxAnswers, cfg.UDPAnswerLimit = tc.maxAnswers, tc.udpLimit
		h := newHandler(cfg, testLogger(t))
		h.update(bigSnapshot(20))
		req := query("big.service.shoal.", tc.qtype, 4096)
		got := paths(t, h, req)
		for path, m := range got {
			want := tc.wantUDP
			if path == "handler/tcp" {
				want = tc.wantTCP
			}
			n := 0 // ANY adds the SRV records, which no cap touches
			for _, rr := range m.Answer {
				if rr.Header().Rrtype == tc.qtype || rr.Header().Rrtype == mdns.TypeA {
					n++
				}
			}
			if n != want || m.Truncated {
				t.Errorf("max_answers %d udp_answer_limit %d %s %s: got %d answers (TC %v), want %d without TC",
					tc.maxAnswers, tc.udpLimit, mdns.TypeToString[tc.qtype], path, n, m.Truncated, want)
			}
		}
	}
}

func TestServer_UDPAnswerLimit(t *testing.T) {
	cfg := testConfig()
	cfg.UDPAnswerLimit = 3
	srv := startServer(t, cfg, newView(bigSnapshot(20)))
	for proto, want := range map[string]int{"udp": 3, "tcp": 20} {
		for _, edns := range []uint16{0, 1232} {
			got := exchange(t, proto, srv.Addr(), query("big.service.shoal.", mdns.TypeA, edns))
			if len(got.Answer) != want || got.Truncated {
				t.Errorf("%s EDNS %d: got %d answers (TC %v), want %d", proto, edns, len(got.Answer), got.Truncated, want)
			}
		}
	}
	if got := dig(t, srv.Addr(), "big.service.shoal", "A"); len(got) != 3 {
		t.Errorf("dig over UDP: got %d addresses, want 3", len(got))
	}
	if got := dig(t, srv.Addr(), "+tcp", "big.service.shoal", "A"); len(got) != 20 {
		t.Errorf("dig over TCP: got %d addresses, want 20", len(got))
	}
}

// TestServer_Reload: a running server takes new TTLs, caps, domains and SOA
// timers on its open sockets, and rebuilds the current membership with them.
func TestServer_Reload(t *testing.T) {
	srv := startServer(t, testConfig(), newView(bigSnapshot(5)))
	ask := func(proto, name string, qtype uint16) *mdns.Msg {
		return exchange(t, proto, srv.Addr(), query(name, qtype, 1232))
	}
	for _, proto := range []string{"udp", "tcp"} {
		if got := ask(proto, "big.service.shoal.", mdns.TypeA); len(got.Answer) != 5 || got.Answer[0].Header().Ttl != 0 {
			t.Fatalf("%s before reload: got %d answers, TTL %d; want 5, TTL 0", proto, len(got.Answer), got.Answer[0].Header().Ttl)
		}
	}
	cfg := parityConfig()
	cfg.ServiceTTL = 42 * time.Second
	cfg.MaxAnswers = 2
	cfg.TCPMaxConns = 7
	restart, err := srv.Reload(cfg)
	if err != nil || len(restart) != 0 {
		t.Fatalf("Reload: got restart %v, err %v; want neither", restart, err)
	}
	for _, proto := range []string{"udp", "tcp"} {
		got := ask(proto, "big.service.shoal.example.com.", mdns.TypeA)
		if len(got.Answer) != 2 || got.Answer[0].Header().Ttl != 42 {
			t.Errorf("%s after reload: got %d answers, TTL %d; want 2, TTL 42", proto, len(got.Answer), got.Answer[0].Header().Ttl)
		}
		if soa := ask(proto, "shoal.", mdns.TypeSOA); len(soa.Answer) != 1 || soa.Answer[0].(*mdns.SOA).Refresh != 7200 {
			t.Errorf("%s SOA after reload: got %v, want refresh 7200", proto, soa.Answer)
		}
	}
	if got := srv.tcp.max.Load(); got != 7 {
		t.Errorf("TCP cap after reload: got %d, want 7", got)
	}

	bad := cfg
	bad.AltDomain = "shoal"
	if _, err := srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "alt domain") {
		t.Errorf("Reload of an alt domain equal to the domain: got %v, want an error naming alt domain", err)
	}
	moved := cfg
	moved.Addr = "127.0.0.1:1"
	if restart, err := srv.Reload(moved); err != nil || !slices.Equal(restart, []string{"addr"}) {
		t.Errorf("Reload with a new address: got restart %v, err %v; want [addr]", restart, err)
	}
	if got := ask("udp", "node-001.node.shoal.", mdns.TypeA); len(got.Answer) != 1 {
		t.Errorf("after a reload with a new address: got %d answers where it served, want 1", len(got.Answer))
	}
}

func TestConfig_ParityRanges(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AltDomain = "bad..name"
	cfg.UDPAnswerLimit = -1
	cfg.MaxAnswers = 5000
	cfg.SOARefresh = 0
	cfg.SOARetry = 2 * 365 * 24 * time.Hour
	cfg.SOAExpire = -time.Second
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad parity settings")
	}
	for _, want := range []string{"alt domain", "udp answer limit", "max answers", "soa refresh", "soa retry", "soa expire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestServer_ReloadDuringChanges: reloads racing membership changes and
// queries over both transports; every answer comes from one whole config
// (the domain asked is answered, with the caps of one config), and the
// last reload wins over a membership change that lands after it.
func TestServer_ReloadDuringChanges(t *testing.T) {
	v := newView(bigSnapshot(20))
	srv := startServer(t, testConfig(), v)
	ctx, cancel := context.WithCancel(context.Background())
	var writers, queriers sync.WaitGroup
	writers.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			v.set(bigSnapshot(10 + i%20))
		}
	})
	writers.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			cfg := parityConfig()
			cfg.MaxAnswers = 1 + i%5
			if _, err := srv.Reload(cfg); err != nil {
				t.Errorf("Reload: %v", err)
				return
			}
		}
	})
	for _, proto := range []string{"udp", "tcp"} {
		queriers.Go(func() {
			for range 50 {
				got := exchange(t, proto, srv.Addr(), query("big.service.shoal.", mdns.TypeA, 1232))
				if got.Rcode != mdns.RcodeSuccess || len(got.Answer) < 1 || len(got.Answer) > 20 {
					t.Errorf("%s during reloads: got %s with %d answers", proto, mdns.RcodeToString[got.Rcode], len(got.Answer))
					return
				}
			}
		})
	}
	queriers.Wait()
	cancel()
	writers.Wait()

	final := parityConfig()
	final.MaxAnswers = 4
	if _, err := srv.Reload(final); err != nil {
		t.Fatal(err)
	}
	v.set(bigSnapshot(20))
	testutil.WaitFor(t, 10*time.Second, func() error {
		got := exchange(t, "udp", srv.Addr(), query("big.service.shoal.example.com.", mdns.TypeA, 1232))
		if len(got.Answer) != 4 {
			return fmt.Errorf("after the last reload and change: got %d answers for the alt domain, want 4", len(got.Answer))
		}
		return nil
	})
}
