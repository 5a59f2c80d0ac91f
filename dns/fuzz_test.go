package dns

import (
	"encoding/binary"
	"log/slog"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandler feeds raw packets through the paths the server takes: the
// UDP loop's servePacket, and mdns.Server's (acceptRequest on the header,
// then unpacking, then the handler) that serves TCP. Whatever arrives,
// neither may panic, and both must answer what they accept with a
// well-formed response to the same ID that fits the transport.
func FuzzHandler(f *testing.F) {
	for _, q := range []*mdns.Msg{
		query("alpha.node.shoal.", mdns.TypeA, 0),
		query("WEB.service.shoal.", mdns.TypeSRV, 1232),
		query("_web._v1.service.shoal.", mdns.TypeSRV, 0),
		query("1.0.0.10.in-addr.arpa.", mdns.TypePTR, 0),
		query("shoal.", mdns.TypeANY, 4096),
		query("example.com.", mdns.TypeA, 0),
		query("big.service.shoal.", mdns.TypeA, 0),
		query("web.service.shoal.example.com.", mdns.TypeSRV, 0),
		query("7f000001.addr.shoal.", mdns.TypeA, 0),
		query("fd000000000000000000000000000003.addr.shoal.example.com.", mdns.TypeAAAA, 1232),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	do := query("alpha.node.shoal.", mdns.TypeA, 1232)
	do.IsEdns0().SetDo()
	twoOPT := query("big.service.shoal.", mdns.TypeSRV, 1232)
	twoOPT.Extra = append(twoOPT.Extra, twoOPT.Extra[0])
	for _, q := range []*mdns.Msg{do, twoOPT} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01")) // pointer loop
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x01\x00\x00\x29\x00\x00\x00\x01\x00\x00\x00\x00"))

	cfg := testConfig()
	cfg.AltDomain = "shoal.example.com."
	cfg.UDPAnswerLimit = 7
	h := newHandler(cfg, slog.New(slog.DiscardHandler))
	snap := bigSnapshot(30)
	snap.Members = append(snap.Members, testSnapshot().Members...)
	h.update(snap)
	s := newUDPScratch()

	f.Fuzz(func(t *testing.T, raw []byte) {
		checkPacket(t, h, s, raw)
		if len(raw) < 12 {
			return // the server drops these unanswered
		}
		if acceptRequest(headerOf(raw)) != mdns.MsgAccept {
			return // miekg answers FORMERR/NOTIMP or drops
		}
		req := new(mdns.Msg)
		if err := req.Unpack(raw); err != nil {
			return // miekg answers FORMERR
		}
		for _, tcp := range []bool{false, true} {
			rec := &recorder{tcp: tcp}
			h.ServeDNS(rec, req)
			if rec.err != nil {
				t.Fatalf("tcp=%v: %v", tcp, rec.err)
			}
			if rec.msg == nil {
				t.Fatalf("tcp=%v: no response to %v", tcp, req)
			}
			if rec.msg.Id != req.Id || !rec.msg.Response {
				t.Fatalf("tcp=%v: got id %d response %v, want id %d response true", tcp, rec.msg.Id, rec.msg.Response, req.Id)
			}
			if limit := responseSize(tcp, req.IsEdns0(), h.current().MaxUDPSize); len(rec.raw) > limit {
				t.Fatalf("tcp=%v: %d-byte response over the %d-byte limit", tcp, len(rec.raw), limit)
			}
			checkEDNS(t, req, rec.msg)
		}
	})
}

// checkPacket checks servePacket's answer to raw, and that what parseQuery
// accepts, miekg/dns unpacks to the same query.
func checkPacket(t *testing.T, h *handler, s *udpScratch, raw []byte) {
	if q, ok := parseQuery(raw, s); ok {
		req := new(mdns.Msg)
		if err := req.Unpack(raw); err != nil {
			t.Fatalf("parseQuery accepted what miekg/dns refuses: %v", err)
		}
		if want, ok := queryOf(raw, req); !ok || q != want {
			t.Fatalf("parseQuery gave %+v, miekg/dns %+v (%v)", q, want, ok)
		}
	}
	out, fwd := h.servePacket(raw, s)
	if fwd != nil {
		t.Fatalf("forwarded %v without recursors", fwd)
	}
	if out == nil {
		if len(raw) >= 12 && raw[2]&0x80 == 0 {
			t.Fatalf("no response to a %d-byte query", len(raw))
		}
		return
	}
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		t.Fatalf("a response to a %d-byte packet with QR=%d", len(raw), raw[2]>>7)
	}
	resp := new(mdns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatalf("udp response does not unpack: %v", err)
	}
	if id := binary.BigEndian.Uint16(raw); resp.Id != id || !resp.Response {
		t.Fatalf("udp: got id %d response %v, want id %d response true", resp.Id, resp.Response, id)
	}
	limit := mdns.MinMsgSize
	if req := new(mdns.Msg); req.Unpack(raw) == nil {
		limit = responseSize(false, req.IsEdns0(), h.current().MaxUDPSize)
	}
	if len(out) > limit {
		t.Fatalf("udp: %d-byte response over the %d-byte limit", len(out), limit)
	}
	if req := new(mdns.Msg); acceptRequest(headerOf(raw)) == mdns.MsgAccept && req.Unpack(raw) == nil {
		checkEDNS(t, req, resp)
	}
}

// checkEDNS checks the EDNS rules a response to a query req that unpacked
// follows: FORMERR for several OPT records (RFC 6891 section 6.1.1), and
// otherwise the query's DO bit in the response's OPT (RFC 3225 section 3).
func checkEDNS(t *testing.T, req, resp *mdns.Msg) {
	opt, n := requestOPT(req)
	if n > 1 {
		if resp.Rcode != mdns.RcodeFormatError {
			t.Fatalf("%d OPT records: got %s, want FORMERR", n, mdns.RcodeToString[resp.Rcode])
		}
		return
	}
	if got := resp.IsEdns0(); opt != nil && got != nil && got.Do() != opt.Do() {
		t.Fatalf("got DO=%v, want the query's DO=%v", got.Do(), opt.Do())
	}
}
