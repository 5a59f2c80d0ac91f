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

	// While a fresh node joins without replay, events from peers wait in
	// held until the join's state exchange has set the minimum time: a
	// peer that already counts this node alive may gossip it an old event
	// a moment before that exchange ends, and it would pass as new.
	holdMu  sync.Mutex
	holding bool
	held    []userEventMsg
}

// maxJoinHeld bounds the events held during a join; past it they are
// dropped (gossip and push/pull bring what is new again).
const maxJoinHeld = 1024

// hold keeps msg for later if a join is holding events.
func (s *eventState) hold(msg *userEventMsg) bool {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if !s.holding {
		return false
	}
	if len(s.held) < maxJoinHeld {
		s.held = append(s.held, *msg)
	}
	return true
}

func (s *eventState) startHolding() {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	s.holding, s.held = true, nil
}

// stopHolding ends holding and returns what was held.
func (s *eventState) stopHolding() []userEventMsg {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	held := s.held
	s.holding, s.held = false, nil
	return held
}

// markSeen records events as seen without delivering them, so that a
// copy arriving later is a duplicate. now is the event clock.
func (s *eventState) markSeen(events []userEventMsg, now LamportTime) {
	for _, e := range events {
		s.admit(e.LTime, now, e, e.sameEvent)
	}
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
		Name: name, Payload: payload, Coalesce: coalesce, Origin: n.cfg.Name,
	}
	n.events.lastSent = msg.LTime
	n.acceptUserEvent(&msg)
	encoded := encodeMessage(msgUserEvent, &msg)
	n.eventBroadcasts.QueueBroadcast(&broadcast{msg: encoded})
	n.pushEventEagerly(encoded)
	return nil
}

// handleUserEvent takes an event from a peer: held while a join is
// holding them, else as acceptUserEvent.
func (n *Node) handleUserEvent(msg *userEventMsg) bool {
	if n.events.hold(msg) {
		return false
	}
	return n.acceptUserEvent(msg)
}

// acceptUserEvent delivers or holds an event seen for the first time and
// reports whether to gossip it on.
func (n *Node) acceptUserEvent(msg *userEventMsg) bool {
	n.eventClock.Witness(msg.LTime)
	return n.delivery.offer(msg)
}
