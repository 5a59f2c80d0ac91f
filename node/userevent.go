package node

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// eventState de-duplicates user events by Lamport time. The buffer is a
// ring indexed by LTime modulo its size; each slot remembers the events
// seen at that time.
type eventState struct {
	mu         sync.Mutex
	buffer     []*eventSlot
	minTime    LamportTime
	joinIgnore atomic.Bool
}

type eventSlot struct {
	ltime  LamportTime
	events []userEventMsg
}

func (s *eventState) init(size int) { s.buffer = make([]*eventSlot, size) }

func (s *eventState) raiseMinTime(t LamportTime) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t > s.minTime {
		s.minTime = t
	}
}

// recent returns the remembered events, for push-pull anti-entropy.
func (s *eventState) recent() []userEventMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []userEventMsg
	for _, slot := range s.buffer {
		if slot != nil {
			out = append(out, slot.events...)
		}
	}
	return out
}

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
	s := &n.events
	s.mu.Lock()
	if msg.LTime < s.minTime {
		s.mu.Unlock()
		return false
	}
	size := LamportTime(len(s.buffer))
	if cur := n.eventClock.Time(); cur > size && msg.LTime < cur-size {
		s.mu.Unlock()
		n.logger.Debug("user event too old to de-duplicate; dropped", "event", msg.Name, "ltime", msg.LTime, "clock", cur)
		return false
	}
	idx := msg.LTime % size
	slot := s.buffer[idx]
	if slot == nil || slot.ltime != msg.LTime {
		slot = &eventSlot{ltime: msg.LTime}
		s.buffer[idx] = slot
	}
	for _, seen := range slot.events {
		if seen.Name == msg.Name && bytes.Equal(seen.Payload, msg.Payload) {
			s.mu.Unlock()
			return false
		}
	}
	slot.events = append(slot.events, *msg)
	s.mu.Unlock()

	n.stats.userEvents.Add(1)
	n.delivery.add(&UserEvent{LTime: msg.LTime, Name: msg.Name, Payload: msg.Payload, Coalesce: msg.Coalesce})
	return true
}
