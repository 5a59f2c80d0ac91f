package dns

import (
	"log/slog"
	"net"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

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
