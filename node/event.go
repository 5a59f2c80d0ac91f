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
	// EventHealth is a *HealthEvent. It comes last so the older values
	// keep their numbers.
	EventHealth
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
	case EventHealth:
		return "health"
	default:
		return fmt.Sprintf("unknown-event-%d", uint8(t))
	}
}

// Event is delivered to subscribers: *MemberEvent, *UserEvent, *Query or
// *HealthEvent.
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

// HealthEvent reports that a member's Health, or the Health of some of
// its service instances, changed as this node sees it: from its own
// SetCatalog for the local member, from the member's catalog record for
// others. Member is the member as it is now. Changed lists the instances
// whose Health differs from before; an instance this node did not hold
// before counts as having been passing, so a new passing instance is no
// health change, and a removed instance is none either (watchers see the
// new Snapshot). One event per record applied, however many instances
// changed, and at most one record per CatalogInterval per owner: a
// flapping check cannot storm the handlers.
type HealthEvent struct {
	Member  Member
	Changed []Service
}

func (e *HealthEvent) EventType() EventType { return EventHealth }
func (e *HealthEvent) String() string       { return "health: " + e.Member.Name }

// healthChange compares a member before and after a catalog change.
func healthChange(prev, cur Member) *HealthEvent {
	before := make(map[string]Health, len(prev.Services))
	for _, s := range prev.Services {
		before[s.ID] = s.Health
	}
	var changed []Service
	for _, s := range cur.Services {
		if before[s.ID] != s.Health {
			changed = append(changed, s)
		}
	}
	if len(changed) == 0 && prev.Health == cur.Health {
		return nil
	}
	return &HealthEvent{Member: cur, Changed: changed}
}

// publishHealth publishes ev unless it is nil.
func (n *Node) publishHealth(ev *HealthEvent) {
	if ev != nil {
		n.publish(ev)
	}
}
