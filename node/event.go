package node

import (
	"fmt"
	"time"
)

// EventType names the kinds of Event a subscriber receives. The strings are
// Serf's, so handler filters written for Serf keep working.
type EventType uint8

const (
	EventMemberJoin EventType = iota + 1
	EventMemberLeave
	EventMemberFailed
	EventMemberUpdate
	EventMemberReap
	EventUser
	EventQuery
)

func (t EventType) String() string {
	switch t {
	case EventMemberJoin:
		return "member-join"
	case EventMemberLeave:
		return "member-leave"
	case EventMemberFailed:
		return "member-failed"
	case EventMemberUpdate:
		return "member-update"
	case EventMemberReap:
		return "member-reap"
	case EventUser:
		return "user"
	case EventQuery:
		return "query"
	default:
		return fmt.Sprintf("unknown-event-%d", uint8(t))
	}
}

// Event is delivered to subscribers: *MemberEvent, *UserEvent or *Query.
type Event interface {
	EventType() EventType
	String() string
}

// MemberEvent reports members that joined, left, failed, changed tags or
// were reaped.
type MemberEvent struct {
	Type    EventType
	Members []Member
}

func (e *MemberEvent) EventType() EventType { return e.Type }
func (e *MemberEvent) String() string       { return e.Type.String() }

// UserEvent is a custom, fire-and-forget event carried to every member.
type UserEvent struct {
	LTime    LamportTime
	Name     string
	Payload  []byte
	Coalesce bool
}

func (e *UserEvent) EventType() EventType { return EventUser }
func (e *UserEvent) String() string       { return "user-event: " + e.Name }

// Query is a request that expects acks and responses before a deadline.
// Handlers answer it with Respond.
type Query struct {
	LTime      LamportTime
	Name       string
	Payload    []byte
	SourceNode string

	id       uint32
	addr     []byte
	port     uint16
	deadline time.Time
	respond  func(q *Query, payload []byte) error
}

func (q *Query) EventType() EventType { return EventQuery }
func (q *Query) String() string       { return "query: " + q.Name }

// Deadline is when the originator stops listening for responses.
func (q *Query) Deadline() time.Time { return q.deadline }

// Respond sends payload back to the query's originator. It may be called
// once; a payload over the response size limit is refused with an error.
func (q *Query) Respond(payload []byte) error {
	if q.respond == nil {
		return fmt.Errorf("query %q: cannot respond to a query that was not received", q.Name)
	}
	return q.respond(q, payload)
}
