package dns

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

// viaMiekg answers raw through answer and packToFit, the path TCP and
// wildcard UDP take, for comparison with servePacket's.
func viaMiekg(t *testing.T, h *handler, raw []byte) *mdns.Msg {
	t.Helper()
	req := new(mdns.Msg)
	if err := req.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	resp := new(mdns.Msg)
	if h.answer(resp, req, h.index.Load(), false) {
		t.Fatal("answer wants to forward")
	}
	out := h.pack(resp, responseSize(false, req.IsEdns0(), h.current().MaxUDPSize), make([]byte, 512))
	m := new(mdns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatalf("miekg's response does not unpack: %v", err)
	}
	return m
}

func TestPacket_WireMatchesMiekg(t *testing.T) {
	truncated := 0
	defer func() {
		if truncated == 0 {
			t.Errorf("no response was truncated: the truncation path went untested")
		}
	}()
	// With 12 members, big's SRV answers fit in 512 bytes but their
	// addresses do not: the additional records go, without TC.
	for _, tc := range []struct{ members, maxAnswers int }{{50, 0}, {50, 3}, {12, 0}} {
		maxAnswers := tc.maxAnswers
		cfg := testConfig()
		cfg.MaxAnswers = maxAnswers
		h := newHandler(cfg, slog.New(slog.DiscardHandler))
		snap := bigSnapshot(tc.members)
		snap.Members = append(snap.Members, testSnapshot().Members...)
		h.update(snap)
		s := newUDPScratch()

		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"big.service.shoal.", mdns.TypeA},
			{"big.service.shoal.", mdns.TypeSRV},
			{"_big._tcp.service.shoal.", mdns.TypeSRV},
			{"web.service.shoal.", mdns.TypeA},
			{"web.service.shoal.", mdns.TypeAAAA},
			{"WEB.Service.shoal.", mdns.TypeSRV},
			{"_web._v1.service.shoal.", mdns.TypeSRV},
			{"alpha.node.shoal.", mdns.TypeA},
			{"Gamma.node.shoal.", mdns.TypeAAAA},
		} {
			for _, edns := range []uint16{0, 512, 700, 1232, 4096} {
				req := query(q.name, q.qtype, edns)
				req.CheckingDisabled = edns == 700
				if wireMatchesMiekg(t, h, s, req, maxAnswers, cfg.MaxUDPSize) {
					truncated++
				}
			}
		}
	}
}

// wireMatchesMiekg checks that servePacket answers req from the encoded
// records with the header, question, record counts, size limit, owner
// spelling and OPT of miekg's response (and, untruncated and unlimited,
// its records and length), and returns whether the response was truncated.
func wireMatchesMiekg(t *testing.T, h *handler, s *udpScratch, req *mdns.Msg, maxAnswers, maxUDPSize int) bool {
	t.Helper()
	name, qtype := req.Question[0].Name, req.Question[0].Qtype
	raw, out, got := serveWire(t, h, s, req)
	want := viaMiekg(t, h, raw)
	desc := fmt.Sprintf("%s %s max %d edns %d", name, mdns.TypeToString[qtype], maxAnswers, ednsSize(req))
	if got.MsgHdr != want.MsgHdr {
		t.Errorf("%s: header %+v, want %+v", desc, got.MsgHdr, want.MsgHdr)
	}
	if !slices.Equal(got.Question, want.Question) {
		t.Errorf("%s: question %v, want %v", desc, got.Question, want.Question)
	}
	if len(got.Answer) != len(want.Answer) || len(got.Ns) != len(want.Ns) || len(got.Extra) != len(want.Extra) {
		t.Errorf("%s: %d/%d/%d records, want %d/%d/%d", desc, len(got.Answer), len(got.Ns), len(got.Extra),
			len(want.Answer), len(want.Ns), len(want.Extra))
	}
	if len(out) > responseSize(false, req.IsEdns0(), maxUDPSize) {
		t.Errorf("%s: %d bytes, over the limit", desc, len(out))
	}
	for _, rr := range got.Answer {
		if rr.Header().Name != name {
			t.Errorf("%s: owner %q, want the client's spelling %q", desc, rr.Header().Name, name)
		}
	}
	if !got.Truncated && maxAnswers == 0 {
		if !slices.Equal(rdata(got.Answer), rdata(want.Answer)) || !slices.Equal(rdata(got.Extra), rdata(want.Extra)) {
			t.Errorf("%s: answer %q extra %q, want %q and %q", desc,
				rdata(got.Answer), rdata(got.Extra), rdata(want.Answer), rdata(want.Extra))
		}
		if len(out) != len(mustPack(t, want)) {
			t.Errorf("%s: %d bytes, miekg packs %d", desc, len(out), len(mustPack(t, want)))
		}
	}
	if o, w := got.IsEdns0(), want.IsEdns0(); (o == nil) != (w == nil) || (o != nil && o.String() != w.String()) {
		t.Errorf("%s: OPT %v, want %v", desc, o, w)
	}
	return got.Truncated
}

// serveWire packs req, checks that parseQuery and answerWire take it (the
// wire path, not miekg's) and that servePacket responds with a message
// that unpacks, and returns the raw query, the response and its unpacking.
func serveWire(t *testing.T, h *handler, s *udpScratch, req *mdns.Msg) (raw, out []byte, got *mdns.Msg) {
	t.Helper()
	name, qtype := req.Question[0].Name, req.Question[0].Qtype
	raw, err := req.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if q, ok := parseQuery(raw, s); !ok {
		t.Fatalf("%s %s: parseQuery refused a plain query", name, mdns.TypeToString[qtype])
	} else if _, ok := answerWire(raw, q, h.index.Load(), s); !ok {
		t.Fatalf("%s %s: not answered from the encoded records", name, mdns.TypeToString[qtype])
	}
	out, fwd := h.servePacket(raw, s)
	if fwd != nil || out == nil {
		t.Fatalf("%s: got forward %v and %d bytes, want a response", name, fwd, len(out))
	}
	got = new(mdns.Msg)
	if err := got.Unpack(out); err != nil {
		t.Fatalf("%s %s edns %d: response does not unpack: %v", name, mdns.TypeToString[qtype], ednsSize(req), err)
	}
	return raw, out, got
}

// ednsSize is the UDP size req's OPT record offers, 0 without one.
func ednsSize(req *mdns.Msg) uint16 {
	if opt := req.IsEdns0(); opt != nil {
		return opt.UDPSize()
	}
	return 0
}

func mustPack(t *testing.T, m *mdns.Msg) []byte {
	t.Helper()
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPacket_Shuffles checks that the encoded path still serves a new order
// per response.
func TestPacket_Shuffles(t *testing.T) {
	h := newHandler(testConfig(), slog.New(slog.DiscardHandler))
	h.update(bigSnapshot(20))
	s := newUDPScratch()
	raw, _ := query("big.service.shoal.", mdns.TypeSRV, 1232).Pack()
	orders := make(map[string]bool)
	for range 20 {
		out, _ := h.servePacket(raw, s)
		m := new(mdns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		orders[m.Answer[0].String()+m.Extra[0].String()] = true
	}
	if len(orders) < 2 {
		t.Errorf("20 responses, %d orders of SRV and additional records: not shuffled", len(orders))
	}
}

func TestPacket_Rejects(t *testing.T) {
	h := newHandler(testConfig(), slog.New(slog.DiscardHandler))
	h.update(testSnapshot())
	s := newUDPScratch()
	good, _ := query("alpha.node.shoal.", mdns.TypeA, 0).Pack()
	response := slices.Clone(good)
	response[2] |= 0x80
	update := slices.Clone(good)
	update[2] = mdns.OpcodeUpdate << 3
	if out, _ := h.servePacket(good[:11], s); out != nil {
		t.Errorf("11 bytes: got a response, want silence")
	}
	if out, _ := h.servePacket(response, s); out != nil {
		t.Errorf("a response: got a response, want silence")
	}
	for _, tc := range []struct {
		name  string
		raw   []byte
		rcode int
	}{
		{"update", update, mdns.RcodeNotImplemented},
		{"cut", good[:20], mdns.RcodeFormatError},
	} {
		out, _ := h.servePacket(tc.raw, s)
		m := new(mdns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.Rcode != tc.rcode || m.Id != binaryID(tc.raw) || !m.Response {
			t.Errorf("%s: got rcode %s id %d, want %s id %d", tc.name, mdns.RcodeToString[m.Rcode], m.Id,
				mdns.RcodeToString[tc.rcode], binaryID(tc.raw))
		}
	}
}

func binaryID(raw []byte) uint16 { return uint16(raw[0])<<8 | uint16(raw[1]) }

func TestListenUDP_SocketsSharePort(t *testing.T) {
	if !reusePortBalances {
		t.Skip("one UDP socket on this OS")
	}
	conns, err := listenUDP("127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		defer c.Close()
		if got, want := c.LocalAddr().String(), conns[0].LocalAddr().String(); got != want {
			t.Errorf("socket bound to %s, want %s like the first", got, want)
		}
	}
}

// TestServer_EverySocketAnswers asks from many client ports, which the
// kernel spreads over the server's sockets by hash: a socket without a
// reader would leave some unanswered.
func TestServer_EverySocketAnswers(t *testing.T) {
	srv := startServer(t, testConfig(), newView(testSnapshot()))
	for i := range 32 {
		if got := exchange(t, "udp", srv.Addr(), query("alpha.node.shoal.", mdns.TypeA, 0)); len(got.Answer) != 1 {
			t.Fatalf("query %d: got %d answers, want 1", i, len(got.Answer))
		}
	}
}

func TestServer_IPv6Loopback(t *testing.T) {
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	cfg := testConfig()
	cfg.Addr = "[::1]:0"
	srv := startServer(t, cfg, newView(testSnapshot()))
	for _, proto := range []string{"udp", "tcp"} {
		got := exchange(t, proto, srv.Addr(), query("web.service.shoal.", mdns.TypeSRV, 1232))
		if len(got.Answer) != 3 || len(got.Extra) != 4 {
			t.Errorf("%s over ::1: got %d answers and %d additional, want 3 and 4 (with OPT)", proto, len(got.Answer), len(got.Extra))
		}
	}
}

// TestParseQuery_AgreesWithMiekg holds the allocation-free parser to what
// miekg/dns unpacks, and checks that it leaves odd queries to miekg.
func TestParseQuery_AgreesWithMiekg(t *testing.T) {
	s := newUDPScratch()
	cookie := query("web.service.shoal.", mdns.TypeA, 1232)
	cookie.IsEdns0().Option = append(cookie.IsEdns0().Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
	for _, tc := range []struct {
		req  *mdns.Msg
		want bool
	}{
		{query("web.service.shoal.", mdns.TypeA, 0), true},
		{query("_Web._TCP.Service.Shoal.", mdns.TypeSRV, 1232), true},
		{query("a-b.node.shoal.", mdns.TypeAAAA, 512), true},
		{query("we\\.b.service.shoal.", mdns.TypeA, 0), false}, // an escaped dot
		{query("w\\000b.service.shoal.", mdns.TypeA, 0), false},
		{cookie, false},
	} {
		raw, err := tc.req.Pack()
		if err != nil {
			t.Fatal(err)
		}
		q, ok := parseQuery(raw, s)
		if ok != tc.want {
			t.Errorf("%s: parsed %v, want %v", tc.req.Question[0].Name, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		req := new(mdns.Msg)
		if err := req.Unpack(raw); err != nil {
			t.Fatal(err)
		}
		want, _ := queryOf(raw, req)
		if q != want {
			t.Errorf("%s: parsed %+v, miekg/dns gives %+v", tc.req.Question[0].Name, q, want)
		}
	}
}
