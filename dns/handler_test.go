package dns

import (
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

func serve(h *handler, req *mdns.Msg, tcp bool) *recorder {
	rec := &recorder{tcp: tcp}
	h.ServeDNS(rec, req)
	return rec
}

func TestHandler_Answers(t *testing.T) {
	h := newHandler(testConfig(), testLogger(t))
	h.update(testSnapshot())

	soa := []string{"SOA alpha.node.shoal. hostmaster.shoal. 7 3600 600 86400 0"}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
		extra  []string
	}{
		{"node A", "alpha.node.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1"}, nil, nil},
		{"node AAAA", "gamma.node.shoal.", mdns.TypeAAAA, mdns.RcodeSuccess,
			[]string{"AAAA fd00::3"}, nil, nil},
		{"node without A", "gamma.node.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			nil, soa, nil},
		{"node tags", "alpha.node.shoal.", mdns.TypeTXT, mdns.RcodeSuccess,
			[]string{`TXT "dc=x" "role=web"`}, nil, nil},
		{"node ANY", "alpha.node.shoal.", mdns.TypeANY, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1", `TXT "dc=x" "role=web"`}, nil, nil},
		{"failed node", "delta.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, nil},
		{"left node", "epsilon.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, nil},
		{"leaving node", "zeta.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, nil},
		{"unknown node", "nobody.node.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, nil},
		{"service A", "web.service.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1", "A 10.0.0.2"}, nil, nil},
		{"service AAAA", "web.service.shoal.", mdns.TypeAAAA, mdns.RcodeSuccess,
			[]string{"AAAA fd00::3"}, nil, nil},
		{"service SRV", "web.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 1 8080 gamma.node.shoal.", "SRV 1 10 8080 alpha.node.shoal.",
				"SRV 1 5 8081 beta.node.shoal."},
			nil,
			[]string{"A 10.0.0.1", "A 10.0.0.2", "AAAA fd00::3"}},
		{"service TXT is NODATA", "web.service.shoal.", mdns.TypeTXT, mdns.RcodeSuccess,
			nil, soa, nil},
		{"tagged service", "v2.web.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 10 8080 alpha.node.shoal."}, nil, []string{"A 10.0.0.1"}},
		{"rfc2782 tcp", "_web._tcp.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 1 8080 gamma.node.shoal.", "SRV 1 10 8080 alpha.node.shoal.",
				"SRV 1 5 8081 beta.node.shoal."},
			nil,
			[]string{"A 10.0.0.1", "A 10.0.0.2", "AAAA fd00::3"}},
		{"rfc2782 tag", "_web._v1.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 5 8081 beta.node.shoal."}, nil, []string{"A 10.0.0.2"}},
		{"unset weight is 1", "db.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 1 5432 alpha.node.shoal."}, nil, []string{"A 10.0.0.1"}},
		{"service of failed members only", "cache.service.shoal.", mdns.TypeA,
			mdns.RcodeNameError, nil, soa, nil},
		{"unknown service", "nothing.service.shoal.", mdns.TypeSRV, mdns.RcodeNameError, nil, soa, nil},
		{"unknown tag", "v9.web.service.shoal.", mdns.TypeSRV, mdns.RcodeNameError, nil, soa, nil},
		{"empty non-terminal", "service.shoal.", mdns.TypeA, mdns.RcodeSuccess, nil, soa, nil},
		{"unknown name in domain", "what.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, soa, nil},
		{"SOA", "shoal.", mdns.TypeSOA, mdns.RcodeSuccess, soa, nil, nil},
		{"NS", "shoal.", mdns.TypeNS, mdns.RcodeSuccess,
			[]string{"NS alpha.node.shoal."}, nil, []string{"A 10.0.0.1"}},
		{"PTR v4", "1.0.0.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeSuccess,
			[]string{"PTR alpha.node.shoal."}, nil, nil},
		{"PTR v6", mustReverse(t, "fd00::3"), mdns.TypePTR, mdns.RcodeSuccess,
			[]string{"PTR gamma.node.shoal."}, nil, nil},
		{"PTR of a failed member", "4.0.0.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeRefused, nil, nil, nil},
		{"outside the domain", "example.com.", mdns.TypeA, mdns.RcodeRefused, nil, nil, nil},
		{"zone transfer", "shoal.", mdns.TypeAXFR, mdns.RcodeRefused, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(h, query(tc.qname, tc.qtype, 0), false).msg
			if got.Rcode != tc.rcode {
				t.Fatalf("rcode: got %s, want %s", mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{{"answer", rdata(got.Answer), tc.answer}, {"authority", rdata(got.Ns), tc.ns}, {"additional", rdata(got.Extra), tc.extra}} {
				if !slices.Equal(sec.got, sec.want) {
					t.Errorf("%s: got %q, want %q", sec.name, sec.got, sec.want)
				}
			}
			// Authoritative for the domain and for members' reverse names.
			if got.Authoritative != (tc.rcode != mdns.RcodeRefused) {
				t.Errorf("AA: got %v for %s", got.Authoritative, tc.qname)
			}
			if got.Truncated {
				t.Errorf("TC set on a small answer")
			}
		})
	}
}

func mustReverse(t *testing.T, ip string) string {
	t.Helper()
	r, err := mdns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHandler_CaseInsensitive(t *testing.T) {
	h := newHandler(testConfig(), testLogger(t))
	h.update(testSnapshot())
	got := serve(h, query("WEB.Service.SHOAL.", mdns.TypeSRV, 0), false).msg
	if len(got.Answer) != 3 {
		t.Fatalf("answers: got %d, want 3", len(got.Answer))
	}
	if q := got.Question[0].Name; q != "WEB.Service.SHOAL." {
		t.Errorf("question: got %q, want the client's spelling", q)
	}
	for _, rr := range got.Answer {
		if rr.Header().Name != "WEB.Service.SHOAL." {
			t.Errorf("owner: got %q, want the client's spelling", rr.Header().Name)
		}
	}
	// The index's own records must not have been renamed.
	again := serve(h, query("web.service.shoal.", mdns.TypeSRV, 0), false).msg
	if owner := again.Answer[0].Header().Name; owner != "web.service.shoal." {
		t.Errorf("shared record renamed: got %q", owner)
	}
}

func TestHandler_TTLs(t *testing.T) {
	cfg := testConfig()
	cfg.NodeTTL = 30 * time.Second
	cfg.ServiceTTL = 10 * time.Second
	cfg.ServiceTTLs = map[string]time.Duration{"DB": 60 * time.Second}
	cfg.NegativeTTL = 5 * time.Second
	h := newHandler(cfg, testLogger(t))
	h.update(testSnapshot())

	ttl := func(name string, qtype uint16, section func(*mdns.Msg) []mdns.RR) uint32 {
		t.Helper()
		rrs := section(serve(h, query(name, qtype, 0), false).msg)
		if len(rrs) == 0 {
			t.Fatalf("%s %s: empty section", name, mdns.TypeToString[qtype])
		}
		return rrs[0].Header().Ttl
	}
	answer := func(m *mdns.Msg) []mdns.RR { return m.Answer }
	authority := func(m *mdns.Msg) []mdns.RR { return m.Ns }
	extra := func(m *mdns.Msg) []mdns.RR { return m.Extra }
	for _, tc := range []struct {
		what string
		got  uint32
		want uint32
	}{
		{"node A", ttl("alpha.node.shoal.", mdns.TypeA, answer), 30},
		{"service SRV", ttl("web.service.shoal.", mdns.TypeSRV, answer), 10},
		{"SRV target address", ttl("web.service.shoal.", mdns.TypeSRV, extra), 30},
		{"per-service TTL", ttl("db.service.shoal.", mdns.TypeA, answer), 60},
		{"negative", ttl("nobody.node.shoal.", mdns.TypeA, authority), 5},
	} {
		if tc.got != tc.want {
			t.Errorf("%s TTL: got %d, want %d", tc.what, tc.got, tc.want)
		}
	}
	soa := serve(h, query("nobody.node.shoal.", mdns.TypeA, 0), false).msg.Ns[0].(*mdns.SOA)
	if soa.Minttl != 5 {
		t.Errorf("SOA minimum: got %d, want 5", soa.Minttl)
	}
}

func TestHandler_MaxAnswersAndShuffle(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAnswers = 3
	h := newHandler(cfg, testLogger(t))
	h.update(bigSnapshot(20))

	seen := make(map[string]bool)
	orders := make(map[string]bool)
	for range 50 {
		got := serve(h, query("big.service.shoal.", mdns.TypeA, 0), false).msg
		if len(got.Answer) != 3 {
			t.Fatalf("answers: got %d, want the cap of 3", len(got.Answer))
		}
		var order []string
		for _, rr := range got.Answer {
			a := rr.(*mdns.A).A.String()
			seen[a] = true
			order = append(order, a)
		}
		orders[strings.Join(order, ",")] = true
	}
	// 50 draws of 3 out of 20 all equal has probability ~(1/6840)^49.
	if len(orders) < 2 || len(seen) <= 3 {
		t.Errorf("answers not shuffled: %d orders, %d distinct addresses in 50 responses", len(orders), len(seen))
	}
	// SRV is not capped: truncation, not the cap, bounds it.
	if got := serve(h, query("big.service.shoal.", mdns.TypeSRV, 0), true).msg; len(got.Answer) != 20 {
		t.Errorf("SRV answers: got %d, want 20", len(got.Answer))
	}
}

func TestHandler_Truncation(t *testing.T) {
	h := newHandler(testConfig(), testLogger(t))
	h.update(bigSnapshot(50))

	for _, tc := range []struct {
		name     string
		qtype    uint16
		edns     uint16
		tcp      bool
		maxBytes int
		tc       bool
		answers  int // exact count when not truncated
	}{
		{"A over UDP without EDNS", mdns.TypeA, 0, false, 512, true, 0},
		{"A over UDP with EDNS", mdns.TypeA, 4096, false, 1232, false, 50},
		{"A with a small EDNS size", mdns.TypeA, 100, false, 512, true, 0},
		{"A over TCP", mdns.TypeA, 0, true, mdns.MaxMsgSize, false, 50},
		{"SRV over UDP with EDNS", mdns.TypeSRV, 4096, false, 1232, true, 0},
		{"SRV over TCP", mdns.TypeSRV, 0, true, mdns.MaxMsgSize, false, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(h, query("big.service.shoal.", tc.qtype, tc.edns), tc.tcp)
			if len(rec.raw) > tc.maxBytes {
				t.Errorf("size: got %d bytes, want at most %d", len(rec.raw), tc.maxBytes)
			}
			if rec.msg.Truncated != tc.tc {
				t.Errorf("TC: got %v, want %v", rec.msg.Truncated, tc.tc)
			}
			if !tc.tc && len(rec.msg.Answer) != tc.answers {
				t.Errorf("answers: got %d, want %d", len(rec.msg.Answer), tc.answers)
			}
			if (tc.edns > 0) != (rec.msg.IsEdns0() != nil) {
				t.Errorf("OPT echo: got %v, want %v", rec.msg.IsEdns0() != nil, tc.edns > 0)
			}
		})
	}

	// Additional records are dropped before the answer is truncated.
	h.update(bigSnapshot(12))
	rec := serve(h, query("big.service.shoal.", mdns.TypeSRV, 0), false)
	if rec.msg.Truncated || len(rec.msg.Answer) != 12 || len(rec.msg.Extra) == 12 {
		t.Errorf("12 SRV in 512 bytes: got TC=%v, %d answers, %d extra; want all answers, fewer extras, no TC",
			rec.msg.Truncated, len(rec.msg.Answer), len(rec.msg.Extra))
	}
}

func TestHandler_BadRequests(t *testing.T) {
	h := newHandler(testConfig(), testLogger(t))
	h.update(testSnapshot())

	twoQuestions := query("alpha.node.shoal.", mdns.TypeA, 0)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	noQuestion := query("alpha.node.shoal.", mdns.TypeA, 0)
	noQuestion.Question = nil
	update := query("shoal.", mdns.TypeSOA, 0)
	update.Opcode = mdns.OpcodeUpdate
	notify := query("shoal.", mdns.TypeSOA, 0)
	notify.Opcode = mdns.OpcodeNotify
	chaos := query("version.bind.", mdns.TypeTXT, 0)
	chaos.Question[0].Qclass = mdns.ClassCHAOS
	ednsV1 := query("alpha.node.shoal.", mdns.TypeA, 1232)
	ednsV1.IsEdns0().SetVersion(1)

	for _, tc := range []struct {
		name  string
		req   *mdns.Msg
		rcode int
	}{
		{"two questions", twoQuestions, mdns.RcodeFormatError},
		{"no question", noQuestion, mdns.RcodeFormatError},
		{"update", update, mdns.RcodeNotImplemented},
		{"notify", notify, mdns.RcodeNotImplemented},
		{"chaos class", chaos, mdns.RcodeRefused},
		{"EDNS version 1", ednsV1, mdns.RcodeBadVers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(h, tc.req, false).msg
			if got.Rcode != tc.rcode {
				t.Errorf("rcode: got %s, want %s", mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if got.Id != tc.req.Id || !got.Response {
				t.Errorf("header: got id %d response %v, want id %d response true", got.Id, got.Response, tc.req.Id)
			}
		})
	}

	// A response is never answered: that is how loops between servers start.
	resp := query("alpha.node.shoal.", mdns.TypeA, 0)
	resp.Response = true
	if rec := serve(h, resp, false); rec.msg != nil {
		t.Errorf("answered a response with %s", mdns.RcodeToString[rec.msg.Rcode])
	}
}

func TestHandler_SkipsBadNames(t *testing.T) {
	long := strings.Repeat("x", 64) // over the 63-byte label limit
	snap := &node.Snapshot{Members: []node.Member{
		{Name: long, Status: node.StatusAlive, Services: []node.Service{{Name: "web", Port: 1}}},
		{Name: "ok", Status: node.StatusAlive, Services: []node.Service{{Name: long, Port: 1}, {Name: "web", Port: 2}}},
	}}
	h := newHandler(testConfig(), testLogger(t))
	h.update(snap)
	got := serve(h, query("web.service.shoal.", mdns.TypeSRV, 0), false).msg
	if want := []string{"SRV 1 1 2 ok.node.shoal."}; !slices.Equal(rdata(got.Answer), want) {
		t.Errorf("SRV: got %q, want %q", rdata(got.Answer), want)
	}
}
