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

type message interface {
	encode(e *encoder)
	decode(d *decoder)
}

func encodeMessage(t messageType, m message) []byte {
	e := encoder{buf: make([]byte, 0, 64)}
	e.u8(uint8(t))
	m.encode(&e)
	return e.buf
}

func decodeMessage(buf []byte, m message) error {
	d := decoder{buf: buf}
	m.decode(&d)
	return d.done()
}

// joinIntent and leaveIntent order a member's status changes by Lamport
// time, so a crash (memberlist: dead) and a graceful leave can be told
// apart, and stale gossip cannot undo a newer change.
type joinIntent struct {
	LTime LamportTime
	Node  string
}

func (m *joinIntent) encode(e *encoder) { e.uvarint(uint64(m.LTime)); e.str(m.Node) }
func (m *joinIntent) decode(d *decoder) { m.LTime = LamportTime(d.uvarint()); m.Node = d.str() }

type leaveIntent struct {
	LTime LamportTime
	Node  string
	Prune bool
}

func (m *leaveIntent) encode(e *encoder) {
	e.uvarint(uint64(m.LTime))
	e.str(m.Node)
	e.boolean(m.Prune)
}
func (m *leaveIntent) decode(d *decoder) {
	m.LTime = LamportTime(d.uvarint())
	m.Node = d.str()
	m.Prune = d.boolean()
}

// userEventMsg is a user event. Prev is the Lamport time of the sender's
// previous event (0 for its first), so receivers keep a sender's order.
type userEventMsg struct {
	LTime    LamportTime
	Prev     LamportTime
	Name     string
	Payload  []byte
	Coalesce bool
}

func (m *userEventMsg) encode(e *encoder) {
	e.uvarint(uint64(m.LTime))
	e.uvarint(uint64(m.Prev))
	e.str(m.Name)
	e.bytes(m.Payload)
	e.boolean(m.Coalesce)
}
func (m *userEventMsg) decode(d *decoder) {
	m.LTime = LamportTime(d.uvarint())
	m.Prev = LamportTime(d.uvarint())
	m.Name = d.str()
	m.Payload = d.bytes()
	m.Coalesce = d.boolean()
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

func (m *queryMsg) encode(e *encoder) {
	e.uvarint(uint64(m.LTime))
	e.uvarint(uint64(m.ID))
	e.bytes(m.Addr)
	e.uvarint(uint64(m.Port))
	e.str(m.SourceNode)
	e.strs(m.FilterNodes)
	e.strMap(m.FilterTags)
	e.u8(m.Flags)
	e.uvarint(uint64(m.Timeout))
	e.str(m.Name)
	e.bytes(m.Payload)
	e.u8(m.RelayFactor)
}

func (m *queryMsg) decode(d *decoder) {
	m.LTime = LamportTime(d.uvarint())
	m.ID = uint32(d.uvarint())
	m.Addr = d.bytes()
	m.Port = uint16(d.uvarint())
	m.SourceNode = d.str()
	m.FilterNodes = d.strs()
	m.FilterTags = d.strMap()
	m.Flags = d.u8()
	m.Timeout = time.Duration(d.uvarint())
	m.Name = d.str()
	m.Payload = d.bytes()
	m.RelayFactor = d.u8()
}

type queryResponseMsg struct {
	LTime   LamportTime
	ID      uint32
	From    string
	Ack     bool
	Payload []byte
}

func (m *queryResponseMsg) encode(e *encoder) {
	e.uvarint(uint64(m.LTime))
	e.uvarint(uint64(m.ID))
	e.str(m.From)
	e.boolean(m.Ack)
	e.bytes(m.Payload)
}
func (m *queryResponseMsg) decode(d *decoder) {
	m.LTime = LamportTime(d.uvarint())
	m.ID = uint32(d.uvarint())
	m.From = d.str()
	m.Ack = d.boolean()
	m.Payload = d.bytes()
}

// relayMsg asks a member to forward Msg, an encoded query response, to the
// querier at DestAddr:DestPort, named DestName.
type relayMsg struct {
	DestAddr []byte
	DestPort uint16
	DestName string
	Msg      []byte
}

func (m *relayMsg) encode(e *encoder) {
	e.bytes(m.DestAddr)
	e.uvarint(uint64(m.DestPort))
	e.str(m.DestName)
	e.bytes(m.Msg)
}
func (m *relayMsg) decode(d *decoder) {
	m.DestAddr = d.bytes()
	m.DestPort = uint16(d.uvarint())
	m.DestName = d.str()
	m.Msg = d.bytes()
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
		m.Events[i].encode(e)
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
		ev.decode(d)
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
