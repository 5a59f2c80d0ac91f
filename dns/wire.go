package dns

import (
	"math/rand/v2"
	"unsafe"

	mdns "github.com/miekg/dns"
)

// Most queries ask for the A, AAAA or SRV records of a name in the index.
// Packing those with miekg/dns costs a compression map per response and,
// when the answer is truncated, a second pack. Instead the index holds each
// such record encoded once, the way miekg/dns compresses it in a response:
//
//   - the owner is the queried name, so it is a pointer to the question at
//     offset 12 (which also gives it the client's spelling);
//   - an SRV target is not compressed (RFC 2782), and sits at a fixed
//     offset in its record;
//   - an additional record's owner is a pointer to the SRV target it
//     belongs to.
//
// A response is then the header, the question copied from the query, the
// records in a random order, and the OPT record: appends and a shuffle of
// indexes. Truncation follows packToFit: additional records go first (no
// TC), then answers are cut at the first that does not fit (TC set).

// wireSet holds the encoded A, AAAA and SRV records of one rrset, in the
// rrset's order, and the encoded additional records of its SRV targets.
type wireSet struct {
	a, aaaa, srv [][]byte
	// srvExtra[i] is the index in extra of the address of srv[i]'s target.
	srvExtra []int
	// extra holds the additional records without their owner name: type,
	// class, TTL, length and data.
	extra [][]byte
}

// srvTargetOff is where the target name starts in an encoded SRV record:
// owner pointer (2), type, class, TTL, length (10), priority, weight, port.
const srvTargetOff = 2 + 10 + 6

// maxPointer is the largest offset a compression pointer can hold.
const maxPointer = 0x3FFF

// encodeWire encodes s's A, AAAA and SRV records, or returns nil when one
// does not encode, so that queries for s take miekg's path.
func encodeWire(s *rrset) *wireSet {
	if len(s.a)+len(s.aaaa)+len(s.srv) == 0 {
		return nil
	}
	w := &wireSet{}
	var ok bool
	if w.a, ok = encodeAnswers(s.a); !ok {
		return nil
	}
	if w.aaaa, ok = encodeAnswers(s.aaaa); !ok {
		return nil
	}
	if w.srv, ok = encodeAnswers(s.srv); !ok {
		return nil
	}
	extraOf := make(map[string]int, len(s.extra))
	for i, rr := range s.extra {
		_, rest, ok := packOwner(rr)
		if !ok {
			return nil
		}
		extraOf[rr.Header().Name] = i
		w.extra = append(w.extra, rest)
	}
	for _, rr := range s.srv {
		i, ok := extraOf[rr.(*mdns.SRV).Target]
		if !ok {
			return nil // every target has an address in the index; keep miekg's path if not
		}
		w.srvExtra = append(w.srvExtra, i)
	}
	return w
}

func encodeAnswers(rrs []mdns.RR) ([][]byte, bool) {
	out := make([][]byte, 0, len(rrs))
	for _, rr := range rrs {
		_, rest, ok := packOwner(rr)
		if !ok {
			return nil, false
		}
		out = append(out, append([]byte{0xC0, 12}, rest...))
	}
	return out, true
}

// packOwner packs rr uncompressed and splits it after its owner name.
func packOwner(rr mdns.RR) (owner, rest []byte, ok bool) {
	buf := make([]byte, mdns.Len(rr)+1)
	n, err := mdns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, nil, false
	}
	end, ok := nameEnd(buf[:n], 0)
	if !ok {
		return nil, nil, false
	}
	return buf[:end], buf[end:n], true
}

// nameEnd returns where the uncompressed name at off in b ends, and false
// when it is compressed or cut.
func nameEnd(b []byte, off int) (int, bool) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xC0 != 0:
			return 0, false // a pointer or an extended label type
		}
		off += 1 + l
	}
	return 0, false
}

// wireQuery is what packWire needs of a query.
type wireQuery struct {
	name          string // lowercase, fully qualified
	qtype, qclass uint16
	qEnd          int  // where the question ends in the raw query
	edns          bool // the query has an OPT record
	ednsSize      uint16
	ednsVersion   uint8
	do            bool // the OPT record's DO bit, which the response copies
}

// parseQuery reads the common query straight from raw, without allocating:
// opcode QUERY, one question with an uncompressed name of letters, digits,
// '-' and '_', no answer or authority records, and at most an OPT record
// owned by the root and without options (miekg/dns parses options, and may
// refuse them), with nothing after it. The lowercase name goes in
// s.name, which q.name then refers to until the next call. Anything else
// returns false and is unpacked by miekg/dns.
func parseQuery(raw []byte, s *udpScratch) (q wireQuery, ok bool) {
	if len(raw) < 12 || raw[2]&0xF8 != 0 || // QR=0, opcode QUERY
		raw[4] != 0 || raw[5] != 1 || raw[6]|raw[7]|raw[8]|raw[9]|raw[10] != 0 || raw[11] > 1 {
		return q, false
	}
	name := s.name[:0]
	off := 12
	for {
		if off >= len(raw) {
			return q, false
		}
		l := int(raw[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l > len(raw) {
			return q, false
		}
		for _, c := range raw[off+1 : off+1+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				return q, false // miekg/dns escapes it in the name
			}
			name = append(name, c)
		}
		name = append(name, '.')
		off += 1 + l
	}
	if len(name) == 0 || off+1-12 > 255 || off+5 > len(raw) {
		return q, false
	}
	s.name = name
	q.name = unsafeString(name)
	q.qtype = uint16(raw[off+1])<<8 | uint16(raw[off+2])
	q.qclass = uint16(raw[off+3])<<8 | uint16(raw[off+4])
	q.qEnd = off + 5
	if raw[11] == 0 {
		return q, q.qEnd == len(raw)
	}
	// OPT: root owner, type 41, size, extended rcode, version, flags, and
	// an empty data length.
	opt := raw[q.qEnd:]
	if len(opt) != 11 || opt[0] != 0 || opt[1] != 0 || opt[2] != 41 || opt[9]|opt[10] != 0 {
		return q, false
	}
	q.edns = true
	q.ednsSize = uint16(opt[3])<<8 | uint16(opt[4])
	q.ednsVersion = opt[6]
	q.do = opt[7]&0x80 != 0
	return q, true
}

// queryOf returns the wireQuery of a query miekg/dns unpacked. A query
// with more than one OPT record is answer's, which refuses it.
func queryOf(raw []byte, req *mdns.Msg) (q wireQuery, ok bool) {
	opt, opts := requestOPT(req)
	if req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1 || opts > 1 {
		return q, false
	}
	end, ok := nameEnd(raw, 12)
	if !ok || end+4 > len(raw) {
		return q, false // a compressed question; miekg's path copes
	}
	q = wireQuery{name: lower(req.Question[0].Name), qtype: req.Question[0].Qtype,
		qclass: req.Question[0].Qclass, qEnd: end + 4}
	if opt != nil {
		q.edns, q.ednsSize, q.ednsVersion, q.do = true, opt.UDPSize(), opt.Version(), opt.Do()
	}
	return q, true
}

// answerWire answers q from idx's encoded records when it asks for A,
// AAAA or SRV records idx holds, and returns false otherwise; it mirrors
// answer's checks for those queries.
func answerWire(raw []byte, q wireQuery, idx *index, s *udpScratch) ([]byte, bool) {
	if q.edns && q.ednsVersion != 0 || idx.set.NearSort {
		return nil, false // near sorting orders records, which the wire path cannot
	}
	if q.qclass != mdns.ClassINET && q.qclass != mdns.ClassANY {
		return nil, false
	}
	rs := idx.names[q.name]
	if rs == nil || rs.wire == nil {
		return nil, false
	}
	out, ok := packWire(s.out, raw, q, rs.wire, idx.set, s)
	if ok && cap(out) > cap(s.out) {
		s.out = out[:0] // keep the grown buffer
	}
	return out, ok
}

// packWire appends to buf the response to q, whose raw bytes are raw,
// from w with set's limits, and returns it; false means the query takes
// miekg's path: another type, no records of the type.
func packWire(buf, raw []byte, q wireQuery, w *wireSet, set *settings, s *udpScratch) ([]byte, bool) {
	var answers [][]byte
	limit := 0
	switch q.qtype {
	case mdns.TypeA:
		answers, limit = w.a, set.answerLimit(false)
	case mdns.TypeAAAA:
		answers, limit = w.aaaa, set.answerLimit(false)
	case mdns.TypeSRV:
		answers = w.srv
	default:
		return nil, false
	}
	if len(answers) == 0 {
		return nil, false // NODATA carries the SOA
	}

	// The order of this response: a random subset of limit answers.
	perm := shuffledIndexes(s.perm[:0], len(answers))
	s.perm = perm
	if limit > 0 && len(perm) > limit {
		perm = perm[:limit]
	}
	var extras []int
	if q.qtype == mdns.TypeSRV {
		extras = shuffledIndexes(s.extras[:0], len(w.extra))
		s.extras = extras
	}

	size, optLen := mdns.MinMsgSize, 0
	if q.edns {
		size = min(max(int(q.ednsSize), mdns.MinMsgSize), set.MaxUDPSize) // as responseSize
		optLen = 11
	}
	perm, extras, truncated, ok := fitWire(answers, perm, w.extra, extras, q.qEnd, size-optLen)
	if !ok {
		return nil, false
	}
	buf = appendWireHeader(buf, raw, len(perm), len(extras), q.edns, truncated, len(set.recursors) > 0)
	buf = append(buf, raw[12:q.qEnd]...)
	buf = appendWireRecords(buf, answers, perm, w, extras, s)
	if q.edns {
		buf = appendWireOPT(buf, q.do, set.MaxUDPSize)
	}
	return buf, true
}

// fitWire cuts the response to room bytes (the client's UDP size less
// the OPT record) as packToFit does: additional records go first (no
// TC), then answers are cut at the first that does not fit (TC set). The
// records start at qEnd. It returns the answers and additional records
// that remain, whether the answers were cut, and false when the SRV
// targets would sit past where a compression pointer reaches.
func fitWire(answers [][]byte, perm []int, extra [][]byte, extras []int, qEnd, room int) ([]int, []int, bool, bool) {
	answersLen, extrasLen := 0, 0
	for _, i := range perm {
		answersLen += len(answers[i])
	}
	for _, i := range extras {
		extrasLen += 2 + len(extra[i])
	}
	if len(extras) > 0 && qEnd+answersLen > maxPointer {
		return nil, nil, false, false // targets past where a pointer reaches: leave it to miekg
	}
	switch {
	case qEnd+answersLen+extrasLen <= room:
		return perm, extras, false, true
	case qEnd+answersLen <= room:
		return perm, nil, false, true // additional records are optional; no TC (RFC 2181 section 9)
	}
	fit, l := 0, qEnd
	for _, i := range perm {
		if l += len(answers[i]); l > room {
			break
		}
		fit++
	}
	return perm[:fit], nil, true, true
}

// appendWireHeader appends the response header: the query's ID, QR,
// opcode QUERY, AA, TC, the query's RD; RA, the query's CD, NOERROR; one
// question, the answers, no authority, the additional records and the OPT.
func appendWireHeader(buf, raw []byte, ancount, extras int, edns, truncated, recursion bool) []byte {
	flags1 := byte(0x80 | 0x04 | raw[2]&0x01)
	if truncated {
		flags1 |= 0x02
	}
	flags2 := raw[3] & 0x10
	if recursion {
		flags2 |= 0x80
	}
	arcount := extras
	if edns {
		arcount++
	}
	return append(buf[:0], raw[0], raw[1], flags1, flags2, 0, 1,
		byte(ancount>>8), byte(ancount), 0, 0, byte(arcount>>8), byte(arcount))
}

// appendWireRecords appends the answers in perm's order, then the
// additional records in extras' order, each owned by a pointer to the
// first SRV target in the response that names it.
func appendWireRecords(buf []byte, answers [][]byte, perm []int, w *wireSet, extras []int, s *udpScratch) []byte {
	targetOff := s.targetOff[:0]
	if extras != nil {
		for range w.extra {
			targetOff = append(targetOff, 0)
		}
	}
	s.targetOff = targetOff
	for _, i := range perm {
		if extras != nil && targetOff[w.srvExtra[i]] == 0 {
			targetOff[w.srvExtra[i]] = len(buf) + srvTargetOff
		}
		buf = append(buf, answers[i]...)
	}
	for _, i := range extras {
		off := targetOff[i]
		buf = append(buf, 0xC0|byte(off>>8), byte(off))
		buf = append(buf, w.extra[i]...)
	}
	return buf
}

// appendWireOPT appends the response's OPT record: our UDP size and the
// query's DO bit (RFC 3225 section 3).
func appendWireOPT(buf []byte, do bool, maxUDPSize int) []byte {
	ours := uint16(maxUDPSize)
	var doBit byte
	if do {
		doBit = 0x80
	}
	return append(buf, 0, 0, 41, byte(ours>>8), byte(ours), 0, 0, doBit, 0, 0, 0)
}

// shuffledIndexes appends 0..n-1 to dst in a random order.
func shuffledIndexes(dst []int, n int) []int {
	for i := range n {
		dst = append(dst, i)
	}
	rand.Shuffle(n, func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
	return dst
}

// unsafeString views b as a string for a map lookup that must not allocate;
// b must not change while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
