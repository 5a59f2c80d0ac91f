package node

import (
	"fmt"
	"net"
	"time"
)

// A member's catalog record: its service instances and checks, versioned by
// its owner. Layout after the message type (see codec.go):
//
//	format(1) | node | version | content
//	content: n x (id, name, addr, port, weight, tags, meta, checks) | node checks
//
// Health is not sent: every receiver folds it from the checks, as the
// owner does (normalizeCatalog), so it can never disagree with them.
const recordFormat = 1

type catalogRecord struct {
	Node     string
	Version  uint64
	Services []Service
	Checks   []CheckState
	Health   Health

	content []byte // the encoded content, to tell a real change from a repeat
	raw     []byte // the whole msgCatalog message
	seen    time.Time
}

// newRecord builds a record from a catalog that passed CheckCatalog.
func newRecord(node string, version uint64, services []Service, checks []CheckState) (*catalogRecord, error) {
	svcs, cks, health := normalizeCatalog(services, checks)
	content := encodeContent(svcs, cks)
	r := &catalogRecord{Node: node, Services: svcs, Checks: cks, Health: health, content: content}
	r.setVersion(version)
	if len(r.raw) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", errRecordTooLarge, len(r.raw), MaxRecordSize)
	}
	return r, nil
}

func (r *catalogRecord) setVersion(v uint64) {
	r.Version = v
	e := encoder{buf: make([]byte, 0, len(r.content)+len(r.Node)+16)}
	e.u8(uint8(msgCatalog))
	e.u8(recordFormat)
	e.str(r.Node)
	e.uvarint(v)
	e.buf = append(e.buf, r.content...)
	r.raw = e.buf
}

func encodeContent(svcs []Service, checks []CheckState) []byte {
	e := encoder{}
	e.uvarint(uint64(len(svcs)))
	for _, s := range svcs {
		e.str(s.ID)
		e.str(s.Name)
		e.bytes(s.Address)
		e.uvarint(uint64(s.Port))
		e.uvarint(uint64(s.Weight))
		e.strs(s.Tags)
		e.strMap(s.Meta)
		encodeChecks(&e, s.Checks)
	}
	encodeChecks(&e, checks)
	return e.buf
}

func encodeChecks(e *encoder, checks []CheckState) {
	e.uvarint(uint64(len(checks)))
	for _, c := range checks {
		e.str(c.ID)
		e.str(c.Name)
		e.u8(uint8(c.Status))
		e.str(c.Note)
	}
}

func decodeChecks(d *decoder, serviceID string) []CheckState {
	var out []CheckState
	for n := d.count(4); n > 0 && d.err == nil; n-- {
		out = append(out, CheckState{ID: d.str(), Name: d.str(), ServiceID: serviceID, Status: Health(d.u8()), Note: d.str()})
	}
	return out
}

// decodeRecord reads a msgCatalog body from another member and applies
// the rules the owner applies to its own catalog (CheckCatalog): a record
// this node would refuse to publish is an error.
func decodeRecord(body []byte) (*catalogRecord, error) {
	if len(body)+1 > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", errRecordTooLarge, len(body)+1, MaxRecordSize)
	}
	d := decoder{buf: body}
	if f := d.u8(); d.err == nil && f != recordFormat {
		return nil, fmt.Errorf("catalog record format %d: this agent reads format %d", f, recordFormat)
	}
	node := d.str()
	version := d.uvarint()
	var svcs []Service
	for n := d.count(8); n > 0 && d.err == nil; n-- {
		s := Service{ID: d.str(), Name: d.str(), Address: net.IP(d.bytes()), Port: uint16(d.uvarint()), Weight: int(d.uvarint())}
		if len(s.Address) == 0 {
			s.Address = nil
		}
		s.Tags = d.strs()
		s.Meta = d.strMap()
		s.Checks = decodeChecks(&d, s.ID)
		svcs = append(svcs, s)
	}
	checks := decodeChecks(&d, "")
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("decode catalog record: %w", err)
	}
	if !ValidName(node) {
		return nil, fmt.Errorf("catalog record of node %q: invalid node name", clip(node))
	}
	if err := CheckCatalog(svcs, checks); err != nil {
		return nil, fmt.Errorf("catalog record of %s: %w", node, err)
	}
	// Re-encoded, so what this node passes on is canonical.
	r, err := newRecord(node, version, svcs, checks)
	if err != nil {
		return nil, fmt.Errorf("catalog record of %s: %w", node, err)
	}
	return r, nil
}

// catalogNotice announces that a member's record has a new version; it is
// what travels instead of a record too large for one gossip packet.
type catalogNotice struct {
	Node    string
	Version uint64
}

func (m *catalogNotice) walk(f fields) { f.str(&m.Node); uvarintField(f, &m.Version) }

// catalogFetch asks a member, over TCP, to send its record to From.
type catalogFetch struct{ From string }

func (m *catalogFetch) walk(f fields) { f.str(&m.From) }
