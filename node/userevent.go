package node

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// eventState de-duplicates user events; joinIgnore is set while a join
// without replay is in progress. sendMu orders this node's own events, so
// each names the one sent before it (lastSent) as its predecessor.
type eventState struct {
	seenRing[userEventMsg]
	joinIgnore atomic.Bool

	sendMu   sync.Mutex
	lastSent LamportTime
}

// recent returns the remembered events, for push-pull anti-entropy.
func (s *eventState) recent() []userEventMsg { return s.all() }

// reservedPrefix marks shoal's internal event and query names.
const reservedPrefix = "_shoal"

// UserEvent sends a custom event to every member, this one included: the
// local subscribers have it (unless it coalesces) before UserEvent returns.
// Every member delivers it once, as soon as it arrives, and a sender's
// events in the order they were sent (see delivery). With coalesce,
// receivers that coalesce deliver only the newest event of a name within
// the coalescing period.
func (n *Node) UserEvent(name string, payload []byte, coalesce bool) error {
	if name == "" {
		return fmt.Errorf("user event: name is empty")
	}
	if strings.HasPrefix(name, reservedPrefix) {
		return fmt.Errorf("user event %q: names starting with %q are reserved", name, reservedPrefix)
	}
	if size, limit := len(name)+len(payload), n.cfg.UserEventSizeLimit; size > limit {
		return fmt.Errorf("user event %q: name and payload are %d bytes, %d over the %d-byte limit",
			name, size, size-limit, limit)
	}
	if n.list() == nil {
		return fmt.Errorf("user event %q: node not started", name)
	}
	n.events.sendMu.Lock()
	defer n.events.sendMu.Unlock()
	msg := userEventMsg{
		LTime: n.eventClock.Increment(), Prev: n.events.lastSent,
		Name: name, Payload: payload, Coalesce: coalesce,
	}
	n.events.lastSent = msg.LTime
	n.handleUserEvent(&msg)
	n.eventBroadcasts.QueueBroadcast(&broadcast{msg: encodeMessage(msgUserEvent, &msg)})
	return nil
}

// handleUserEvent delivers or holds an event seen for the first time and
// reports whether to gossip it on.
func (n *Node) handleUserEvent(msg *userEventMsg) bool {
	n.eventClock.Witness(msg.LTime)
	return n.delivery.offer(msg)
}
