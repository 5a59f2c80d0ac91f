package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"

	mdns "github.com/miekg/dns"
)

// UDP is served by a read loop of our own rather than mdns.Server, which
// starts a goroutine per packet, reads session data with every datagram and
// allocates a writer and a message per query: about half of what a query
// cost. Each loop reads, answers and writes one datagram at a time, reusing
// one request, one response and one buffer.
//
// On Linux the loops read from sockets of their own, bound to the same
// address with SO_REUSEPORT, so the kernel spreads clients over them
// instead of the loops taking turns at one socket's read lock.
//
// A wildcard address (0.0.0.0, ::) is still served by mdns.Server: a reply
// must come from the address the query was sent to, which on a wildcard
// socket takes the IP_PKTINFO control message per packet, as mdns.Server
// does. Agents bind a specific address by default (127.0.0.1:8600).

// udpScratch is what one read loop reuses from query to query.
type udpScratch struct {
	req, resp mdns.Msg
	out       []byte
	// for parseQuery and packWire
	name                    []byte
	perm, extras, targetOff []int
}

func newUDPScratch() *udpScratch {
	return &udpScratch{out: make([]byte, 8192)}
}

// servePacket answers one datagram and returns the response to send (nil
// for none) or, for a name the recursors answer, a copy of the request to
// forward. It treats raw as mdns.Server does before it calls a handler:
// silence for fewer than 12 bytes or what acceptRequest ignores, and the
// request's header back as FORMERR or NOTIMP for what it rejects or what
// does not unpack. The result is valid until the next call with s.
func (h *handler) servePacket(raw []byte, s *udpScratch) (out []byte, forward *mdns.Msg) {
	if len(raw) < 12 {
		return nil, nil // any reply could be used to amplify
	}
	req := &s.req
	action := acceptRequest(headerOf(raw))
	switch action {
	case mdns.MsgIgnore:
		return nil, nil
	case mdns.MsgAccept:
		idx := h.index.Load()
		if q, ok := parseQuery(raw, s); ok {
			if out, ok := answerWire(raw, q, idx, s); ok {
				return out, nil
			}
		}
		if err := req.Unpack(raw); err == nil {
			if q, ok := queryOf(raw, req); ok {
				if out, ok := answerWire(raw, q, idx, s); ok {
					return out, nil
				}
			}
			resetMsg(&s.resp)
			if h.answer(&s.resp, req, idx, false) {
				return nil, req.Copy() // the loop reuses req
			}
			return h.pack(&s.resp, responseSize(false, req.IsEdns0(), idx.set.MaxUDPSize), s.out), nil
		}
		// req holds the header and whatever parsed, as in mdns.Server.
	default:
		_ = req.Unpack(raw[:12]) // the header only; 12 bytes always unpack
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == mdns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = mdns.RcodeNotImplemented
	}
	req.Answer, req.Ns, req.Extra = nil, nil, nil
	out, err := req.PackBuffer(s.out)
	if err != nil {
		return nil, nil
	}
	return out, nil
}

// serveUDP answers the datagrams conn receives until conn is closed. A
// query for the recursors is forwarded by a goroutine of its own, started
// with spawn, so a slow upstream does not hold the loop; past the bound on
// forwards the loop answers SERVFAIL itself.
func (h *handler) serveUDP(conn *net.UDPConn, bufSize int, spawn func(func())) error {
	in := make([]byte, bufSize)
	s := newUDPScratch()
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dns: read udp: %w", err)
		}
		out, fwd := h.servePacket(in[:n], s)
		if fwd != nil {
			set := h.current()
			size := responseSize(false, fwd.IsEdns0(), set.MaxUDPSize)
			if !h.startForward(set) {
				out = h.pack(h.servfail(fwd, set), size, s.out)
			} else {
				w := &udpWriter{conn: conn, to: from}
				spawn(func() {
					defer h.endForward()
					h.forward(w, fwd, set, false, size)
				})
				continue
			}
		}
		if out == nil {
			continue
		}
		if _, err := conn.WriteToUDPAddrPort(out, from); err != nil {
			h.logger.Debug("dns: cannot write response", "remote", from, "err", err)
		}
	}
}

// udpWriter is the ResponseWriter of a forwarded UDP query.
type udpWriter struct {
	conn *net.UDPConn
	to   netip.AddrPort
}

var _ mdns.ResponseWriter = (*udpWriter)(nil)

func (w *udpWriter) LocalAddr() net.Addr  { return w.conn.LocalAddr() }
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.to) }
func (w *udpWriter) Write(b []byte) (int, error) {
	return w.conn.WriteToUDPAddrPort(b, w.to)
}
func (w *udpWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}
func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}

// isWildcard reports whether host is an unspecified address, which
// mdns.Server serves (see above).
func isWildcard(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "" || (err == nil && ip.IsUnspecified())
}

// listenUDP binds n UDP sockets to addr, sharing one port: the port of
// addr, or the one the kernel gave the first socket when it is 0. With
// n > 1 every socket has SO_REUSEPORT, which Linux allows only between
// sockets of one user; a second agent on the same address still fails,
// on the TCP port.
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	var lc net.ListenConfig
	if n > 1 {
		lc.Control = reusePort
	}
	var conns []*net.UDPConn
	for len(conns) < n {
		if len(conns) > 0 {
			addr = conns[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

// udpLayout returns how many sockets to bind to a non-wildcard address
// and how many loops read each: a socket per CPU where SO_REUSEPORT
// spreads datagrams over sockets, else one socket with a loop per CPU.
func udpLayout() (sockets, loopsEach int) {
	procs := runtime.GOMAXPROCS(0)
	if reusePortBalances {
		return procs, 1
	}
	return 1, procs
}

// goGroup returns a spawn function for serveUDP that runs f in wg.
func goGroup(wg *sync.WaitGroup) func(func()) { return func(f func()) { wg.Go(f) } }

// headerOf reads the fixed 12-byte DNS header of raw, which the caller has
// checked is long enough, without unpacking the rest.
func headerOf(raw []byte) mdns.Header {
	return mdns.Header{
		Id:      binary.BigEndian.Uint16(raw[0:]),
		Bits:    binary.BigEndian.Uint16(raw[2:]),
		Qdcount: binary.BigEndian.Uint16(raw[4:]),
		Ancount: binary.BigEndian.Uint16(raw[6:]),
		Nscount: binary.BigEndian.Uint16(raw[8:]),
		Arcount: binary.BigEndian.Uint16(raw[10:]),
	}
}
