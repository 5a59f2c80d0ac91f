package node

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// messageType is the first byte of every message shoal sends through
// memberlist's user-message channel.
type messageType uint8

const (
	msgJoinIntent messageType = iota + 1
	msgLeaveIntent
	msgUserEvent
	msgQuery
	msgQueryResponse
	msgPushPull
	msgRelay
	msgSuspicion
	msgCatalog
	msgCatalogNotice
	msgCatalogFetch
)

func (t messageType) String() string {
	switch t {
	case msgJoinIntent:
		return "join-intent"
	case msgLeaveIntent:
		return "leave-intent"
	case msgUserEvent:
		return "user-event"
	case msgQuery:
		return "query"
	case msgQueryResponse:
		return "query-response"
	case msgPushPull:
		return "push-pull"
	case msgRelay:
		return "relay"
	case msgSuspicion:
		return "suspicion"
	case msgCatalog:
		return "catalog"
	case msgCatalogNotice:
		return "catalog-notice"
	case msgCatalogFetch:
		return "catalog-fetch"
	default:
		return fmt.Sprintf("unknown(%d)", uint8(t))
	}
}

// message is one of shoal's gossip messages: walk lists its fields in
// wire order, once for both directions (see fields).
type message interface {
	walk(f fields)
}

func encodeMessage(t messageType, m message) []byte {
	e := encoder{buf: make([]byte, 0, 64)}
	e.u8(uint8(t))
	m.walk(fields{e: &e})
	return e.buf
}

// encodeBody encodes m with no type byte, as a query's response payload.
func encodeBody(m message) []byte {
	e := encoder{}
	m.walk(fields{e: &e})
	return e.buf
}

func decodeMessage(buf []byte, m message) error {
	d := decoder{buf: buf}
	m.walk(fields{d: &d})
	return d.done()
}

// joinIntent and leaveIntent order a member's status changes by Lamport
// time, so a crash (memberlist: dead) and a graceful leave can be told
// apart, and stale gossip cannot undo a newer change.
type joinIntent struct {
	LTime LamportTime
	Node  string
}

func (m *joinIntent) walk(f fields) { uvarintField(f, &m.LTime); f.str(&m.Node) }

type leaveIntent struct {
	LTime LamportTime
	Node  string
	Prune bool
}

func (m *leaveIntent) walk(f fields) {
	uvarintField(f, &m.LTime)
	f.str(&m.Node)
	f.boolean(&m.Prune)
}

// userEventMsg is a user event. Prev is the Lamport time of the sender's
// previous event (0 for its first), so receivers keep a sender's order.
type userEventMsg struct {
	LTime    LamportTime
	Prev     LamportTime
	Name     string
	Payload  []byte
	Coalesce bool
	// Origin names the sender, so that Prev names one event: events of
	// different senders can share a Lamport time. It orders delivery only;
	// de-duplication stays by time, name and payload, as in Serf.
	Origin string
}

// sameEvent reports whether o repeats m for de-duplication: the same name
// and payload (the caller compares Lamport times), as Serf decides.
func (m *userEventMsg) sameEvent(o userEventMsg) bool {
	return o.Name == m.Name && string(o.Payload) == string(m.Payload)
}

func (m *userEventMsg) walk(f fields) {
	uvarintField(f, &m.LTime)
	uvarintField(f, &m.Prev)
	f.str(&m.Name)
	f.bytes(&m.Payload)
	f.boolean(&m.Coalesce)
	f.str(&m.Origin)
}

const (
	queryFlagAck      = 1 << 0
	queryFlagInternal = 1 << 1
)

type queryMsg struct {
	LTime       LamportTime
	ID          uint32
	Addr        []byte
	Port        uint16
	SourceNode  string
	FilterNodes []string
	FilterTags  map[string]string
	Flags       uint8
	Timeout     time.Duration
	Name        string
	Payload     []byte
	RelayFactor uint8
}

func (m *queryMsg) walk(f fields) {
	uvarintField(f, &m.LTime)
	uvarintField(f, &m.ID)
	f.bytes(&m.Addr)
	uvarintField(f, &m.Port)
	f.str(&m.SourceNode)
	f.strs(&m.FilterNodes)
	f.strMap(&m.FilterTags)
	f.u8(&m.Flags)
	uvarintField(f, &m.Timeout)
	f.str(&m.Name)
	f.bytes(&m.Payload)
	f.u8(&m.RelayFactor)
}

type queryResponseMsg struct {
	LTime   LamportTime
	ID      uint32
	From    string
	Ack     bool
	Payload []byte
}

func (m *queryResponseMsg) walk(f fields) {
	uvarintField(f, &m.LTime)
	uvarintField(f, &m.ID)
	f.str(&m.From)
	f.boolean(&m.Ack)
	f.bytes(&m.Payload)
}

// relayMsg asks a member to forward Msg, an encoded query response, to the
// querier at DestAddr:DestPort, named DestName.
type relayMsg struct {
	DestAddr []byte
	DestPort uint16
	DestName string
	Msg      []byte
}

func (m *relayMsg) walk(f fields) {
	f.bytes(&m.DestAddr)
	uvarintField(f, &m.DestPort)
	f.str(&m.DestName)
	f.bytes(&m.Msg)
}

// pushPullMsg is exchanged on memberlist's periodic full-state sync: the
// status times of every member, who has left, the clocks, the recent
// user events and the version of every catalog record, so a node that
// missed gossip catches up.
type pushPullMsg struct {
	LTime        LamportTime
	StatusLTimes map[string]LamportTime
	LeftMembers  []string
	EventLTime   LamportTime
	Events       []userEventMsg
	QueryLTime   LamportTime
	Catalog      map[string]uint64
}

// walk: the maps and the event list need a loop of their own in each
// direction, so push-pull keeps separate encode and decode.
func (m *pushPullMsg) walk(f fields) {
	if f.e != nil {
		m.encode(f.e)
	} else {
		m.decode(f.d)
	}
}

func (m *pushPullMsg) encode(e *encoder) {
	e.uvarint(uint64(m.LTime))
	e.uvarint(uint64(len(m.StatusLTimes)))
	for _, n := range slices.Sorted(maps.Keys(m.StatusLTimes)) {
		e.str(n)
		e.uvarint(uint64(m.StatusLTimes[n]))
	}
	e.strs(m.LeftMembers)
	e.uvarint(uint64(m.EventLTime))
	e.uvarint(uint64(len(m.Events)))
	for i := range m.Events {
		m.Events[i].walk(fields{e: e})
	}
	e.uvarint(uint64(m.QueryLTime))
	e.uvarint(uint64(len(m.Catalog)))
	for _, n := range slices.Sorted(maps.Keys(m.Catalog)) {
		e.str(n)
		e.uvarint(m.Catalog[n])
	}
}

func (m *pushPullMsg) decode(d *decoder) {
	m.LTime = LamportTime(d.uvarint())
	n := d.count(2)
	m.StatusLTimes = make(map[string]LamportTime, n)
	for ; n > 0 && d.err == nil; n-- {
		name := d.str()
		m.StatusLTimes[name] = LamportTime(d.uvarint())
	}
	m.LeftMembers = d.strs()
	m.EventLTime = LamportTime(d.uvarint())
	for n := d.count(4); n > 0 && d.err == nil; n-- {
		var ev userEventMsg
		ev.walk(fields{d: d})
		m.Events = append(m.Events, ev)
	}
	m.QueryLTime = LamportTime(d.uvarint())
	if n = d.count(2); n > 0 {
		m.Catalog = make(map[string]uint64, n)
	}
	for ; n > 0 && d.err == nil; n-- {
		name := d.str()
		m.Catalog[name] = d.uvarint()
	}
}
