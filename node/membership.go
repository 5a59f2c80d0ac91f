package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// memberState is a Member plus what this node needs to order and expire
// its status changes.
type memberState struct {
	Member
	statusLTime LamportTime // Lamport time of the last status change
	leaveTime   time.Time   // when it failed or left, for reaping
	susp        suspicion   // see suspicion.go
}

// nodeIntent remembers a join or leave intent for a member we have not
// seen yet, so its order is right once memberlist reports it.
type nodeIntent struct {
	leave bool
	ltime LamportTime
	seen  time.Time
}

// recentIntentTimeout bounds how long intents for unknown members are
// kept, and maxRecentIntents how many: intents name members that gossip has
// not shown us yet, so a flood of them for made-up names must not grow
// memory without bound. Past the cap, intents for new names are dropped
// (counted in DroppedMessages); at worst such a member's first status is
// ordered by memberlist alone.
const (
	recentIntentTimeout = 5 * time.Minute
	maxRecentIntents    = 4096
)

func memberFromNode(mn *memberlist.Node) (Member, error) {
	tags, err := decodeMeta(mn.Meta)
	return Member{
		Name: mn.Name, Addr: append(net.IP(nil), mn.Addr...), Port: mn.Port,
		Tags: tags, Status: StatusAlive,
		ProtocolMin: mn.PMin, ProtocolMax: mn.PMax, ProtocolCur: mn.PCur,
		DelegateMin: mn.DMin, DelegateMax: mn.DMax, DelegateCur: mn.DCur,
	}, err
}

// rebuildLocked publishes a new immutable Snapshot and signals watchers.
// n.mu must be held.
func (n *Node) rebuildLocked() {
	n.version++
	n.snap.Store(&Snapshot{Self: n.cfg.Name, Members: sortedMembers(n.members), Version: n.version})
	n.signalWatchers()
}

// handleNodeJoin runs when memberlist sees a member alive, new or returning.
func (n *Node) handleNodeJoin(mn *memberlist.Node) {
	m, err := memberFromNode(mn)
	if err != nil {
		n.dropMessage("node meta of "+mn.Name, err)
	}
	n.mu.Lock()
	n.fillCatalogLocked(&m)
	ms, exists := n.members[m.Name]
	if !exists {
		ms = &memberState{Member: m}
		if intent, ok := n.recentIntents[m.Name]; ok {
			ms.statusLTime = intent.ltime
			if intent.leave {
				ms.Status = StatusLeaving
			}
			delete(n.recentIntents, m.Name)
		}
		n.members[m.Name] = ms
	} else {
		m.Status = StatusAlive
		ms.Member = m
		ms.leaveTime = time.Time{}
		ms.resetSuspicionLocked(time.Now())
	}
	n.rebuildLocked()
	joined := ms.Member
	n.mu.Unlock()

	if n.snapshot != nil && joined.Name != n.cfg.Name {
		n.snapshot.recordAlive(joined.Name, net.JoinHostPort(joined.Addr.String(), strconv.Itoa(int(joined.Port))))
	}
	n.logger.Info("member joined", "member", joined.Name, "addr", joined.Addr, "port", joined.Port)
	n.publish(&MemberEvent{Type: EventMemberJoin, Members: []Member{joined}})
}

// handleNodeLeave runs when memberlist declares a member dead. Whether it
// failed or left is decided by the leave intent that came before.
func (n *Node) handleNodeLeave(mn *memberlist.Node) {
	n.mu.Lock()
	ms, ok := n.members[mn.Name]
	if !ok {
		n.mu.Unlock()
		return
	}
	var typ EventType
	switch ms.Status {
	case StatusLeaving:
		ms.Status, typ = StatusLeft, EventMemberLeave
	case StatusAlive, StatusSuspect:
		ms.Status, typ = StatusFailed, EventMemberFailed
	default:
		n.mu.Unlock()
		return
	}
	ms.leaveTime = time.Now()
	ms.resetSuspicionLocked(ms.leaveTime)
	n.rebuildLocked()
	gone := ms.Member
	n.mu.Unlock()

	if n.snapshot != nil {
		n.snapshot.recordNotAlive(gone.Name)
	}
	if typ == EventMemberFailed {
		n.logger.Warn("member failed", "member", gone.Name, "addr", gone.Addr)
	} else {
		n.logger.Info("member left", "member", gone.Name)
	}
	n.publish(&MemberEvent{Type: typ, Members: []Member{gone}})
}

// handleNodeUpdate runs when a member's meta (tags) changes.
func (n *Node) handleNodeUpdate(mn *memberlist.Node) {
	m, err := memberFromNode(mn)
	if err != nil {
		n.dropMessage("node meta of "+mn.Name, err)
	}
	n.mu.Lock()
	ms, ok := n.members[m.Name]
	if !ok {
		n.mu.Unlock()
		return
	}
	m.Status = ms.Status
	n.fillCatalogLocked(&m)
	ms.Member = m
	n.rebuildLocked()
	n.mu.Unlock()
	n.logger.Info("member updated", "member", m.Name)
	n.publish(&MemberEvent{Type: EventMemberUpdate, Members: []Member{m}})
}

// handleJoinIntent orders a member's (re)join. It returns whether the
// intent was news and should be gossiped on.
func (n *Node) handleJoinIntent(msg *joinIntent) bool {
	if !n.nameOrDrop(msgJoinIntent, msg.Node) {
		return false
	}
	n.clock.Witness(msg.LTime)
	n.mu.Lock()
	defer n.mu.Unlock()
	ms, ok := n.members[msg.Node]
	if !ok {
		return n.upsertIntentLocked(msg.Node, false, msg.LTime)
	}
	if msg.LTime <= ms.statusLTime {
		return false
	}
	ms.statusLTime = msg.LTime
	if ms.Status == StatusLeaving {
		// It announced a leave, then came back before memberlist saw it go.
		ms.Status = StatusAlive
		n.rebuildLocked()
	}
	return true
}

// handleLeaveIntent marks a member leaving (alive), or left (already
// failed, e.g. after force-leave). It returns whether to gossip it on.
func (n *Node) handleLeaveIntent(msg *leaveIntent) bool {
	if !n.nameOrDrop(msgLeaveIntent, msg.Node) {
		return false
	}
	n.clock.Witness(msg.LTime)
	n.mu.Lock()
	ms, ok := n.members[msg.Node]
	if !ok {
		defer n.mu.Unlock()
		return n.upsertIntentLocked(msg.Node, true, msg.LTime)
	}
	if msg.LTime <= ms.statusLTime {
		n.mu.Unlock()
		return false
	}
	if msg.Node == n.cfg.Name && !n.isLeaving() {
		// Someone force-left us while we are alive: refute with a newer join.
		n.mu.Unlock()
		n.logger.Warn("refuting a leave intent for this node", "ltime", msg.LTime)
		n.broadcastJoin(n.clock.Increment())
		return false
	}
	ms.statusLTime = msg.LTime
	var ev *MemberEvent
	switch ms.Status {
	case StatusAlive, StatusSuspect:
		// A suspect that announces a leave is leaving: it is reachable
		// enough to say so, and its servers drain as for any leave.
		ms.Status = StatusLeaving
		ms.resetSuspicionLocked(time.Now())
	case StatusFailed:
		ms.Status = StatusLeft
		ms.leaveTime = time.Now()
		ev = &MemberEvent{Type: EventMemberLeave, Members: []Member{ms.Member}}
	}
	if msg.Prune && (ms.Status == StatusLeft || ms.Status == StatusFailed) {
		delete(n.members, ms.Name)
		n.forgetRecordLocked(ms.Name)
		ev = &MemberEvent{Type: EventMemberReap, Members: []Member{ms.Member}}
	}
	n.rebuildLocked()
	n.mu.Unlock()
	if ev != nil {
		n.logger.Info("member "+ev.Type.String(), "member", msg.Node, "forced", true)
		n.publish(ev)
	}
	return true
}

func (n *Node) upsertIntentLocked(name string, leave bool, ltime LamportTime) bool {
	old, ok := n.recentIntents[name]
	if ok && old.ltime >= ltime {
		return false
	}
	if !ok && len(n.recentIntents) >= maxRecentIntents {
		n.dropMessage("intent", fmt.Errorf("%d intents for unknown members already held; %q dropped", maxRecentIntents, name))
		return false
	}
	n.recentIntents[name] = nodeIntent{leave: leave, ltime: ltime, seen: time.Now()}
	return true
}

func (n *Node) isLeaving() bool {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	return n.life == stateLeaving || n.life == stateLeft
}

// broadcastJoin gossips that this node is alive as of ltime.
func (n *Node) broadcastJoin(ltime LamportTime) {
	msg := joinIntent{LTime: ltime, Node: n.cfg.Name}
	n.handleJoinIntent(&msg)
	n.broadcasts.QueueBroadcast(&broadcast{msg: encodeMessage(msgJoinIntent, &msg)})
}

// ForceLeave moves a failed member to left (it stops being retried). With
// prune it is forgotten at once instead of kept as a tombstone.
func (n *Node) ForceLeave(name string, prune bool) error {
	if n.list() == nil {
		return errors.New("force-leave: node not started")
	}
	if _, ok := n.Snapshot().Get(name); !ok {
		return fmt.Errorf("force-leave %q: no such member", name)
	}
	msg := leaveIntent{LTime: n.clock.Increment(), Node: name, Prune: prune}
	n.handleLeaveIntent(&msg)
	n.broadcasts.QueueBroadcast(&broadcast{msg: encodeMessage(msgLeaveIntent, &msg)})
	return nil
}

// reapLoop forgets failed members after the reconnect timeout and left
// members after the tombstone timeout.
func (n *Node) reapLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case now := <-t.C:
			n.reap(now)
		}
	}
}

func (n *Node) reap(now time.Time) {
	n.mu.Lock()
	var reaped []Member
	for name, ms := range n.members {
		var limit time.Duration
		switch ms.Status {
		case StatusFailed:
			limit = n.cfg.ReconnectTimeout
		case StatusLeft:
			limit = n.cfg.TombstoneTimeout
		default:
			continue
		}
		if now.Sub(ms.leaveTime) > limit {
			delete(n.members, name)
			n.forgetRecordLocked(name)
			reaped = append(reaped, ms.Member)
		}
	}
	for name, in := range n.recentIntents {
		if now.Sub(in.seen) > recentIntentTimeout {
			delete(n.recentIntents, name)
		}
	}
	n.reapRecordsLocked(now)
	if len(reaped) > 0 {
		n.rebuildLocked()
	}
	n.mu.Unlock()
	for _, m := range reaped {
		n.logger.Info("member reaped", "member", m.Name, "was", m.Status.String())
		n.publish(&MemberEvent{Type: EventMemberReap, Members: []Member{m}})
	}
}

// reconnectLoop retries one random failed member every interval, so a
// healed partition merges again without an operator.
func (n *Node) reconnectLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-t.C:
			n.reconnectOnce()
		}
	}
}

func (n *Node) reconnectOnce() {
	var failed []Member
	for _, m := range n.Snapshot().Members {
		if m.Status == StatusFailed {
			failed = append(failed, m)
		}
	}
	if len(failed) == 0 {
		return
	}
	m := failed[rand.IntN(len(failed))]
	addr := net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
	n.logger.Debug("reconnecting to failed member", "member", m.Name, "addr", addr)
	if _, err := n.list().Join([]string{addr}); err != nil {
		n.logger.Debug("reconnect failed", "member", m.Name, "err", err)
	}
}
