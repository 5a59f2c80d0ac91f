package dns

import (
	"log/slog"
	"net"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// paths answers req on every path a query can take and returns the
// responses by path name: the handler as mdns.Server calls it for TCP and
// wildcard UDP, and the UDP loop's servePacket (the encoded fast path, or
// miekg's when the query leaves it).
func paths(t *testing.T, h *handler, req *mdns.Msg) map[string]*mdns.Msg {
	t.Helper()
	out := make(map[string]*mdns.Msg)
	for _, tcp := range []bool{false, true} {
		rec := serve(h, req.Copy(), tcp)
		if rec.err != nil || rec.msg == nil {
			t.Fatalf("handler tcp=%v: no response (%v)", tcp, rec.err)
		}
		out[map[bool]string{false: "handler/udp", true: "handler/tcp"}[tcp]] = rec.msg
	}
	raw, err := req.Pack()
	if err != nil {
		t.Fatal(err)
	}
	b, fwd := h.servePacket(raw, newUDPScratch())
	if fwd != nil || b == nil {
		t.Fatalf("servePacket: got forward %v and %d bytes, want a response", fwd, len(b))
	}
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("servePacket: response does not unpack: %v", err)
	}
	out["packet"] = m
	return out
}

// e2e asks a running server over UDP and TCP.
func e2e(t *testing.T, addr string, req *mdns.Msg) map[string]*mdns.Msg {
	t.Helper()
	out := make(map[string]*mdns.Msg)
	for _, proto := range []string{"udp", "tcp"} {
		out["server/"+proto] = exchange(t, proto, addr, req.Copy())
	}
	return out
}

func withDO(req *mdns.Msg) *mdns.Msg {
	req.IsEdns0().SetDo()
	return req
}

// TestRFC3225_DOBitCopied: "The DO bit of the query MUST be copied in the
// response", on every path and for every kind of answer.
func TestRFC3225_DOBitCopied(t *testing.T) {
	h := newHandler(testConfig(), slog.New(slog.DiscardHandler))
	h.update(testSnapshot())
	srv := startServer(t, testConfig(), newView(testSnapshot()))

	for _, tc := range []struct {
		name  string
		req   *mdns.Msg
		rcode int
	}{
		{"node A (encoded path)", query("alpha.node.shoal.", mdns.TypeA, 1232), mdns.RcodeSuccess},
		{"service SRV (encoded path)", query("web.service.shoal.", mdns.TypeSRV, 1232), mdns.RcodeSuccess},
		{"service SRV, 512 bytes", query("web.service.shoal.", mdns.TypeSRV, 512), mdns.RcodeSuccess},
		{"TXT (miekg path)", query("alpha.node.shoal.", mdns.TypeTXT, 1232), mdns.RcodeSuccess},
		{"NODATA", query("gamma.node.shoal.", mdns.TypeA, 1232), mdns.RcodeSuccess},
		{"NXDOMAIN", query("nobody.node.shoal.", mdns.TypeA, 1232), mdns.RcodeNameError},
		{"PTR", query("1.0.0.10.in-addr.arpa.", mdns.TypePTR, 1232), mdns.RcodeSuccess},
		{"outside the domain", query("example.com.", mdns.TypeA, 1232), mdns.RcodeRefused},
	} {
		for _, do := range []bool{false, true} {
			req := tc.req.Copy()
			if do {
				withDO(req)
			}
			got := paths(t, h, req)
			for path, m := range e2e(t, srv.Addr(), req) {
				got[path] = m
			}
			for path, m := range got {
				if m.Rcode != tc.rcode {
					t.Errorf("%s DO=%v %s: rcode %s, want %s", tc.name, do, path,
						mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tc.rcode])
				}
				opt := m.IsEdns0()
				if opt == nil {
					t.Errorf("%s DO=%v %s: no OPT record in the response", tc.name, do, path)
					continue
				}
				if opt.Do() != do {
					t.Errorf("%s %s: got DO=%v, want DO=%v as in the query", tc.name, path, opt.Do(), do)
				}
			}
		}
	}
}

// TestRFC6891_SeveralOPTRecordsAreFormErr: "If a query message with more
// than one OPT RR is received, a FORMERR (RCODE=1) MUST be returned."
func TestRFC6891_SeveralOPTRecordsAreFormErr(t *testing.T) {
	h := newHandler(testConfig(), slog.New(slog.DiscardHandler))
	h.update(testSnapshot())
	srv := startServer(t, testConfig(), newView(testSnapshot()))

	for _, tc := range []struct {
		name string
		opts int
	}{{"two", 2}, {"three", 3}} {
		// Names the encoded path answers, miekg's path answers, and the
		// recursors would (with none configured: REFUSED when valid).
		for _, qname := range []string{"alpha.node.shoal.", "web.service.shoal.", "example.com."} {
			req := query(qname, mdns.TypeA, 1232)
			for len(req.Extra) < tc.opts {
				opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
				opt.SetUDPSize(4096)
				req.Extra = append(req.Extra, opt)
			}
			got := paths(t, h, req)
			for path, m := range e2e(t, srv.Addr(), req) {
				got[path] = m
			}
			for path, m := range got {
				if m.Rcode != mdns.RcodeFormatError || len(m.Answer) != 0 {
					t.Errorf("%s OPT records, %s, %s: got %s with %d answers, want FORMERR and none",
						tc.name, qname, path, mdns.RcodeToString[m.Rcode], len(m.Answer))
				}
				if m.Id != req.Id {
					t.Errorf("%s OPT records, %s, %s: got id %d, want %d", tc.name, qname, path, m.Id, req.Id)
				}
			}
		}
	}
	// One OPT record is answered as usual.
	for path, m := range paths(t, h, query("alpha.node.shoal.", mdns.TypeA, 1232)) {
		if m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("one OPT record, %s: got %s with %d answers, want NOERROR and 1", path, mdns.RcodeToString[m.Rcode], len(m.Answer))
		}
	}
}

// sharedAddrSnapshot has members that share addresses, as containers
// behind one host address or two agents on one machine do.
func sharedAddrSnapshot() *node.Snapshot {
	web := []node.Service{{Name: "web", Port: 8080, Tags: []string{"v1", "v1"}}}
	return &node.Snapshot{Self: "a1", Version: 1, Members: []node.Member{
		{Name: "a1", Addr: net.ParseIP("10.0.0.9"), Status: node.StatusAlive, Services: web},
		{Name: "a2", Addr: net.ParseIP("10.0.0.9"), Status: node.StatusAlive, Services: web},
		{Name: "a3", Addr: net.ParseIP("10.0.0.10"), Status: node.StatusAlive, Services: web},
		{Name: "b1", Addr: net.ParseIP("fd00::9"), Status: node.StatusAlive, Services: web},
		{Name: "b2", Addr: net.ParseIP("fd00::9"), Status: node.StatusAlive, Services: web},
	}}
}

// TestIndex_OneRecordPerAddress: an rrset holds no record twice (RFC 2181
// section 5), so members that share an address give one A or AAAA record;
// each still has its own SRV record and additional address.
func TestIndex_OneRecordPerAddress(t *testing.T) {
	h := newHandler(testConfig(), slog.New(slog.DiscardHandler))
	h.update(sharedAddrSnapshot())
	srv := startServer(t, testConfig(), newView(sharedAddrSnapshot()))

	srvWant := []string{"SRV 1 1 8080 a1.node.shoal.", "SRV 1 1 8080 a2.node.shoal.",
		"SRV 1 1 8080 a3.node.shoal.", "SRV 1 1 8080 b1.node.shoal.", "SRV 1 1 8080 b2.node.shoal."}
	extraWant := []string{"A 10.0.0.10", "A 10.0.0.9", "A 10.0.0.9", "AAAA fd00::9", "AAAA fd00::9"}
	for _, tc := range []struct {
		qname         string
		qtype         uint16
		answer, extra []string
	}{
		{"web.service.shoal.", mdns.TypeA, []string{"A 10.0.0.10", "A 10.0.0.9"}, nil},
		{"web.service.shoal.", mdns.TypeAAAA, []string{"AAAA fd00::9"}, nil},
		{"v1.web.service.shoal.", mdns.TypeA, []string{"A 10.0.0.10", "A 10.0.0.9"}, nil},
		{"_web._tcp.service.shoal.", mdns.TypeA, []string{"A 10.0.0.10", "A 10.0.0.9"}, nil},
		{"web.service.shoal.", mdns.TypeSRV, srvWant, extraWant},
		// The tag is listed twice; the SRV record is there once.
		{"_web._v1.service.shoal.", mdns.TypeSRV, srvWant, extraWant},
		{"web.service.shoal.", mdns.TypeANY, []string{"A 10.0.0.10", "A 10.0.0.9", "AAAA fd00::9",
			"SRV 1 1 8080 a1.node.shoal.", "SRV 1 1 8080 a2.node.shoal.", "SRV 1 1 8080 a3.node.shoal.",
			"SRV 1 1 8080 b1.node.shoal.", "SRV 1 1 8080 b2.node.shoal."}, nil},
	} {
		req := query(tc.qname, tc.qtype, 4096)
		got := paths(t, h, req)
		for path, m := range e2e(t, srv.Addr(), req) {
			got[path] = m
		}
		for path, m := range got {
			if !slices.Equal(rdata(m.Answer), tc.answer) {
				t.Errorf("%s %s %s: answer %q, want %q", tc.qname, mdns.TypeToString[tc.qtype], path, rdata(m.Answer), tc.answer)
			}
			if !slices.Equal(rdata(m.Extra), tc.extra) {
				t.Errorf("%s %s %s: extra %q, want %q", tc.qname, mdns.TypeToString[tc.qtype], path, rdata(m.Extra), tc.extra)
			}
		}
	}
}
