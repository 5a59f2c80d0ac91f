package node

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
)

// eventState de-duplicates user events; joinIgnore is set while a join
// without replay is in progress.
type eventState struct {
	seenRing[userEventMsg]
	joinIgnore atomic.Bool
}

// recent returns the remembered events, for push-pull anti-entropy.
func (s *eventState) recent() []userEventMsg { return s.all() }

// reservedPrefix marks shoal's internal event and query names.
const reservedPrefix = "_shoal"

// UserEvent sends a custom event to every member, this one included.
// With coalesce, receivers that coalesce deliver only the newest event of
// a name within the coalescing period.
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
	msg := userEventMsg{LTime: n.eventClock.Increment(), Name: name, Payload: payload, Coalesce: coalesce}
	n.handleUserEvent(&msg)
	n.eventBroadcasts.QueueBroadcast(&broadcast{msg: encodeMessage(msgUserEvent, &msg)})
	return nil
}

// handleUserEvent delivers an event seen for the first time and reports
// whether to gossip it on.
func (n *Node) handleUserEvent(msg *userEventMsg) bool {
	n.eventClock.Witness(msg.LTime)
	same := func(seen userEventMsg) bool {
		return seen.Name == msg.Name && bytes.Equal(seen.Payload, msg.Payload)
	}
	switch n.events.admit(msg.LTime, n.eventClock.Time(), *msg, same) {
	case duplicate, beforeMinTime:
		return false
	case tooOld:
		n.logger.Debug("user event too old to de-duplicate; dropped", "event", msg.Name, "ltime", msg.LTime)
		return false
	}

	n.stats.userEvents.Add(1)
	n.delivery.add(&UserEvent{LTime: msg.LTime, Name: msg.Name, Payload: msg.Payload, Coalesce: msg.Coalesce})
	return true
}
