package dns

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// handler answers queries from the current index. It is the server's only
// mdns.Handler: it validates the request, routes by name (the domain, a
// member's reverse name, or the recursors) and packs the response itself so
// it can fit it to the transport.
type handler struct {
	logger *slog.Logger
	// index is what queries are answered from: the membership and the
	// settings it was built with, swapped whole by update and reload.
	index atomic.Pointer[index]
	// mu orders the writers of index, so a membership change and a reload
	// racing each other cannot store an index without the other's change.
	mu   sync.Mutex
	set  *settings      // guarded by mu
	snap *node.Snapshot // guarded by mu

	// forwards counts the forwarded queries in flight (recursor.go).
	forwards atomic.Int64
	// near orders answers by estimated round trip when the settings ask
	// for it (near.go); nil when the view has no coordinates.
	near            *nearSorter
	forwardsRefused atomic.Uint64
	logForwards     every
	// ctx bounds forwarding, so Run's shutdown does not wait for a slow
	// upstream. Set before serving starts, read-only afterwards.
	ctx context.Context
}

var _ mdns.Handler = (*handler)(nil)

// newHandler returns a handler for a validated cfg, serving an empty
// membership until update is called.
func newHandler(cfg Config, logger *slog.Logger) *handler {
	h := &handler{
		logger:      logger,
		set:         newSettings(cfg),
		ctx:         context.Background(),
		logForwards: every{period: 10 * time.Second},
	}
	h.update(&node.Snapshot{})
	return h
}

// update swaps in an index built from snap; queries in flight keep the
// index they loaded.
func (h *handler) update(snap *node.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snap = snap
	h.index.Store(buildIndex(snap, h.set, h.logger))
}

// reload swaps in a validated cfg, rebuilding the index of the current
// membership with it.
func (h *handler) reload(cfg Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set = newSettings(cfg)
	h.index.Store(buildIndex(h.snap, h.set, h.logger))
}

// current returns the settings queries are answered with now.
func (h *handler) current() *settings { return h.index.Load().set }

func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	if req.Response {
		return // answering a response invites loops between servers
	}
	tcp := isTCP(w)
	idx := h.index.Load()
	size := responseSize(tcp, req.IsEdns0(), idx.set.MaxUDPSize)
	resp := new(mdns.Msg)
	if !h.answer(resp, req, idx, tcp) {
		h.write(w, resp, size)
		return
	}
	if !h.startForward(idx.set) {
		h.write(w, h.servfail(req, idx.set), size)
		return
	}
	defer h.endForward()
	h.forward(w, req, idx.set, tcp, size)
}

// answer fills resp, a zero or reset message, with the response to req
// from idx, or returns true, leaving resp alone, when req is for the
// recursors. tcp tells the transport, which sets the cap on answers. It
// appends to resp's slices, so a caller may hand it the same message,
// reset, for every query.
func (h *handler) answer(resp, req *mdns.Msg, idx *index, tcp bool) (forward bool) {
	set := idx.set
	reqOPT, opts := requestOPT(req)
	switch {
	case req.Opcode != mdns.OpcodeQuery:
		setRcode(resp, req, mdns.RcodeNotImplemented)
	case len(req.Question) != 1:
		resp.SetRcodeFormatError(req)
	case opts > 1:
		// RFC 6891 section 6.1.1. The reply carries no OPT: which of the
		// request's would it answer?
		setRcode(resp, req, mdns.RcodeFormatError)
		reqOPT = nil
	case reqOPT != nil && reqOPT.Version() != 0:
		setRcode(resp, req, mdns.RcodeBadVers) // RFC 6891 section 6.1.3
	default:
		q := req.Question[0]
		name := lower(q.Name)
		zone, inZone := set.zone(name)
		switch {
		case q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY:
			setRcode(resp, req, mdns.RcodeRefused) // we hold no data of other classes
		case q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR:
			setRcode(resp, req, mdns.RcodeRefused) // membership is not a zone to copy
		case inZone:
			h.answerZone(resp, req, idx, name, zone, set.answerLimit(tcp))
		case idx.names[name] != nil: // a member's reverse name
			setRcode(resp, req, mdns.RcodeSuccess)
			resp.Authoritative = true
			fill(resp, idx.names[name], q.Qtype, set.answerLimit(tcp))
		case len(set.recursors) > 0:
			return true
		default:
			setRcode(resp, req, mdns.RcodeRefused)
		}
		if q.Name != name {
			preserveCase(resp.Answer, q.Name)
		}
	}
	resp.RecursionAvailable = len(set.recursors) > 0
	addOPT(resp, reqOPT, set)
	return false
}

// requestOPT returns the first OPT record of req and how many req has.
func requestOPT(req *mdns.Msg) (first *mdns.OPT, count int) {
	for _, rr := range req.Extra {
		if opt, ok := rr.(*mdns.OPT); ok {
			if first == nil {
				first = opt
			}
			count++
		}
	}
	return first, count
}

// addOPT gives resp our OPT record when the request, whose OPT record is
// reqOPT, had one, with the request's DO bit (RFC 3225 section 3).
func addOPT(resp *mdns.Msg, reqOPT *mdns.OPT, set *settings) {
	if reqOPT == nil {
		return
	}
	// A record per response: packing writes the extended rcode into it.
	opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
	opt.SetUDPSize(uint16(set.MaxUDPSize))
	if reqOPT.Do() {
		opt.SetDo()
	}
	resp.Extra = append(resp.Extra, opt)
}

// setRcode is mdns.Msg.SetRcode without allocating: it reuses resp's
// question slice.
func setRcode(resp, req *mdns.Msg, rcode int) {
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	if resp.Opcode == mdns.OpcodeQuery {
		resp.RecursionDesired = req.RecursionDesired
		resp.CheckingDisabled = req.CheckingDisabled
	}
	resp.Rcode = rcode
	if len(req.Question) > 0 {
		resp.Question = append(resp.Question[:0], req.Question[0])
	}
}

// resetMsg empties m for reuse, keeping the capacity of its sections and
// dropping their references, so no old index stays reachable through them.
func resetMsg(m *mdns.Msg) {
	clear(m.Question[:cap(m.Question)])
	clear(m.Answer[:cap(m.Answer)])
	clear(m.Ns[:cap(m.Ns)])
	clear(m.Extra[:cap(m.Extra)])
	*m = mdns.Msg{Question: m.Question[:0], Answer: m.Answer[:0], Ns: m.Ns[:0], Extra: m.Extra[:0]}
}

// lower returns s in lowercase, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// answerZone answers a name inside zone, the domain or the alt domain:
// NXDOMAIN for an unknown name, NODATA for a known name without records
// of the asked type, both with the zone's SOA in the authority section for
// negative caching (RFC 2308). limit caps the A/AAAA records.
func (h *handler) answerZone(resp, req *mdns.Msg, idx *index, name, zone string, limit int) {
	setRcode(resp, req, mdns.RcodeSuccess)
	resp.Authoritative = true
	qtype := req.Question[0].Qtype
	if rs := idx.names[name]; rs != nil {
		h.fillAnswers(resp, rs, qtype, limit, idx.set.NearSort)
	} else if rr, ok := addrRecord(name, zone, ttlSeconds(idx.set.NodeTTL)); ok {
		if t := rr.Header().Rrtype; qtype == t || qtype == mdns.TypeANY {
			resp.Answer = append(resp.Answer, rr)
		}
	} else {
		resp.Rcode = mdns.RcodeNameError
	}
	if len(resp.Answer) == 0 {
		resp.Ns = append(resp.Ns, idx.soaOf(zone))
	}
}

// fill appends the records of set that answer qtype to resp, in a random
// order per response. It copies the records' pointers, never shuffles the
// index's slices: the index is shared.
func fill(resp *mdns.Msg, set *rrset, qtype uint16, maxAnswers int) {
	switch qtype {
	case mdns.TypeA:
		resp.Answer = appendShuffled(resp.Answer, set.a, maxAnswers)
	case mdns.TypeAAAA:
		resp.Answer = appendShuffled(resp.Answer, set.aaaa, maxAnswers)
	case mdns.TypeSRV:
		resp.Answer = appendShuffled(resp.Answer, set.srv, 0)
		resp.Extra = appendShuffled(resp.Extra, set.extra, 0)
	case mdns.TypeTXT:
		resp.Answer = appendShuffled(resp.Answer, set.txt, 0)
	case mdns.TypePTR:
		resp.Answer = appendShuffled(resp.Answer, set.ptr, 0)
	case mdns.TypeSOA:
		resp.Answer = appendShuffled(resp.Answer, set.soa, 0)
	case mdns.TypeNS:
		resp.Answer = appendShuffled(resp.Answer, set.ns, 0)
		resp.Extra = appendShuffled(resp.Extra, set.extra, 0)
	case mdns.TypeANY:
		resp.Answer = appendShuffled(resp.Answer, set.a, maxAnswers)
		resp.Answer = appendShuffled(resp.Answer, set.aaaa, maxAnswers)
		for _, rrs := range [...][]mdns.RR{set.srv, set.txt, set.ptr, set.soa, set.ns} {
			resp.Answer = append(resp.Answer, rrs...)
		}
	}
}

// appendShuffled appends to dst a random subset of rrs, all of them or
// limit when limit > 0, in a random order.
func appendShuffled(dst, rrs []mdns.RR, limit int) []mdns.RR {
	start := len(dst)
	dst = append(dst, rrs...)
	added := dst[start:]
	rand.Shuffle(len(added), func(i, j int) { added[i], added[j] = added[j], added[i] })
	if limit > 0 && len(added) > limit {
		dst = dst[:start+limit]
	}
	return dst
}

// preserveCase gives the answers the owner name as the client spelled it,
// as authoritative servers do, so a 0x20-randomising resolver sees its own
// spelling. It copies the records: the index's are shared.
func preserveCase(answers []mdns.RR, owner string) {
	for i, rr := range answers {
		if strings.EqualFold(rr.Header().Name, owner) {
			c := mdns.Copy(rr)
			c.Header().Name = owner
			answers[i] = c
		}
	}
}

// responseSize is the largest response the client accepts: 64 KiB over
// TCP, its EDNS0 buffer size (at least 512, at most ours) over UDP, and 512
// bytes without EDNS0 (RFC 1035 section 4.2.1).
func responseSize(tcp bool, opt *mdns.OPT, maxUDP int) int {
	switch {
	case tcp:
		return mdns.MaxMsgSize
	case opt == nil:
		return mdns.MinMsgSize
	default:
		return min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDP)
	}
}

func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.LocalAddr().(*net.TCPAddr)
	return ok
}

// packBuffers holds buffers big enough for most responses, so packing does
// not allocate per query.
var packBuffers = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

// pack packs resp to fit size into buf. A response that cannot be packed
// becomes SERVFAIL rather than silence, so the client does not wait for its
// timeout; nil means not even that packed.
func (h *handler) pack(resp *mdns.Msg, size int, buf []byte) []byte {
	out, err := packToFit(resp, size, buf)
	if err != nil {
		h.logger.Warn("dns: cannot pack response", "question", resp.Question, "err", err)
		fail := new(mdns.Msg).SetRcode(resp, mdns.RcodeServerFailure)
		if out, err = fail.PackBuffer(buf); err != nil {
			return nil
		}
	}
	return out
}

// write packs resp to fit size and sends it.
func (h *handler) write(w mdns.ResponseWriter, resp *mdns.Msg, size int) {
	bp := packBuffers.Get().(*[]byte)
	defer packBuffers.Put(bp)
	if out := h.pack(resp, size, *bp); out != nil {
		if _, err := w.Write(out); err != nil {
			h.logger.Debug("dns: cannot write response", "remote", w.RemoteAddr(), "err", err)
		}
	}
}

// packToFit packs m with name compression into buf. When the result is over
// size it drops the additional records, which are optional (RFC 2181
// section 9), and then truncates the answer if it still does not fit,
// setting TC so the client retries over TCP. Truncate measures before it
// cuts, so an answer that fits once the additional records are gone costs
// one more pack, not two.
func packToFit(m *mdns.Msg, size int, buf []byte) ([]byte, error) {
	m.Compress = true
	out, err := m.PackBuffer(buf)
	if err != nil || len(out) <= size {
		return out, err
	}
	dropAdditional(m)
	m.Truncate(size)
	m.Compress = true // Truncate turns it off when the rest fits uncompressed
	return m.PackBuffer(buf)
}

// dropAdditional removes every additional record but the OPT record.
func dropAdditional(m *mdns.Msg) {
	kept := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == mdns.TypeOPT {
			kept = append(kept, rr)
		}
	}
	m.Extra = kept
}
