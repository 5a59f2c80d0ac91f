package node

import (
	"fmt"

	"github.com/hashicorp/memberlist"
)

// The memberlist callbacks. None of them blocks: they update state under
// a lock and hand events to non-blocking publishers.

type delegate struct{ n *Node }
type eventDelegate struct{ n *Node }
type conflictDelegate struct{ n *Node }
type aliveDelegate struct{ n *Node }
type mergeDelegate struct{ n *Node }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*eventDelegate)(nil)
	_ memberlist.ConflictDelegate = (*conflictDelegate)(nil)
	_ memberlist.AliveDelegate    = (*aliveDelegate)(nil)
	_ memberlist.MergeDelegate    = (*mergeDelegate)(nil)
)

// NotifyAlive runs for every alive message, by UDP gossip or in a TCP
// push/pull, before memberlist stores the member: an error keeps the
// member (or its new meta) out of the view.
func (a *aliveDelegate) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == a.n.cfg.Name && a.n.list() == nil {
		// Our own entry, announced inside memberlist.Create: Config
		// checked it, and a refusal here would leave memberlist
		// without its local node.
		return nil
	}
	if err := checkMember(peer); err != nil {
		a.n.rejectMember(peer, "alive", err)
		return err
	}
	return nil
}

// NotifyMerge runs on both sides of a join, with every member the other
// side knows. A shoal node never holds a member that breaks the rules, so a
// peer that lists one is refused as a whole, as Serf does; the join fails
// with an error naming the member.
func (m *mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := checkMember(p); err != nil {
			m.n.rejectMember(p, "join", err)
			return fmt.Errorf("join refused: the other side lists an invalid member: %w", err)
		}
	}
	return nil
}

func (d *delegate) NodeMeta(limit int) []byte {
	d.n.metaMu.RLock()
	defer d.n.metaMu.RUnlock()
	if len(d.n.meta) > limit {
		// encodeMeta already refuses this; never hand memberlist more.
		return nil
	}
	return d.n.meta
}

// NotifyMsg handles one of shoal's gossip messages. Anything malformed or
// unknown is counted and dropped.
func (d *delegate) NotifyMsg(buf []byte) {
	n := d.n
	if len(buf) == 0 {
		n.dropMessage("empty", fmt.Errorf("no message type"))
		return
	}
	t, body := messageType(buf[0]), buf[1:]
	rebroadcast := false
	var queue *broadcastQueue
	switch t {
	case msgJoinIntent:
		rebroadcast = receive(n, t, body, n.handleJoinIntent)
		queue = n.broadcasts
	case msgLeaveIntent:
		rebroadcast = receive(n, t, body, n.handleLeaveIntent)
		queue = n.broadcasts
	case msgSuspicion:
		rebroadcast = receive(n, t, body, n.handleSuspicion, func(m *suspicionMsg) string { return m.Node },
			func(m *suspicionMsg) string { return m.From })
		queue = n.broadcasts
	case msgUserEvent:
		rebroadcast = receive(n, t, body, n.handleUserEvent, func(m *userEventMsg) string { return m.Origin })
		queue = n.eventBroadcasts
	case msgQuery:
		rebroadcast = receive(n, t, body, n.handleQuery, func(m *queryMsg) string { return m.SourceNode })
		queue = n.queryBroadcasts
	case msgQueryResponse:
		receive(n, t, body, func(m *queryResponseMsg) bool { n.handleQueryResponse(m); return false },
			func(m *queryResponseMsg) string { return m.From })
	case msgRelay:
		n.handleRelay(body)
	case msgCatalog, msgCatalogNotice, msgCatalogFetch:
		n.handleCatalogMsg(t, body, buf)
	default:
		n.dropMessage(t.String(), fmt.Errorf("unknown message type"))
		return
	}
	if rebroadcast {
		// Copy: memberlist may reuse buf after we return.
		msg := append([]byte(nil), buf...)
		queue.QueueBroadcast(&broadcast{msg: msg})
		if t == msgUserEvent {
			n.pushEventEagerly(msg)
		}
	}
}

// GetBroadcasts drains intents first, then catalog records (health
// latency matters), then events, then queries, so membership changes are
// never starved by a chatty application.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	msgs := d.n.broadcasts.GetBroadcasts(overhead, limit)
	used := 0
	for _, m := range msgs {
		used += len(m) + overhead
	}
	records := d.n.catalogBroadcasts.GetBroadcasts(overhead, limit-used)
	for _, m := range records {
		used += len(m) + overhead
	}
	msgs = append(msgs, records...)
	events := d.n.eventBroadcasts.GetBroadcasts(overhead, limit-used)
	for _, m := range events {
		used += len(m) + overhead
	}
	queries := d.n.queryBroadcasts.GetBroadcasts(overhead, limit-used)
	return append(append(msgs, events...), queries...)
}

func (d *delegate) LocalState(join bool) []byte {
	n := d.n
	pp := pushPullMsg{LTime: n.clock.Time(), StatusLTimes: map[string]LamportTime{}}
	n.mu.Lock()
	for name, ms := range n.members {
		pp.StatusLTimes[name] = ms.statusLTime
		if ms.Status == StatusLeft {
			pp.LeftMembers = append(pp.LeftMembers, name)
		}
	}
	pp.Catalog = n.catalogVersionsLocked()
	n.mu.Unlock()
	pp.EventLTime = n.eventClock.Time()
	pp.Events = n.events.recent()
	pp.QueryLTime = n.queryClock.Time()
	return encodeMessage(msgPushPull, &pp)
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	n := d.n
	if len(buf) == 0 || messageType(buf[0]) != msgPushPull {
		n.dropMessage("push-pull", fmt.Errorf("not a push-pull message"))
		return
	}
	var pp pushPullMsg
	if err := decodeMessage(buf[1:], &pp); err != nil {
		n.dropMessage("push-pull", err)
		return
	}
	n.clock.Witness(pp.LTime)
	n.eventClock.Witness(pp.EventLTime)
	n.queryClock.Witness(pp.QueryLTime)
	ignoreEvents := join && n.events.joinIgnore.Load()
	if ignoreEvents {
		// A join without replay: what the cluster did before now is old.
		// The remote's clock cannot say which events those are: a member
		// whose clock runs behind the remote's (it witnessed fewer state
		// exchanges) sends new events at lower times, and refusing
		// everything up to the remote's clock lost them. So the events the
		// remote knows are marked seen, never delivered, and time refuses
		// only what is older than its de-duplication window.
		n.events.markSeen(pp.Events, n.eventClock.Time())
		n.events.raiseMinTime(windowStart(pp.EventLTime, n.cfg.EventBuffer))
		n.queries.raiseMinTime(windowStart(pp.QueryLTime, n.cfg.QueryBuffer))
	}
	left := make(map[string]bool, len(pp.LeftMembers))
	for _, name := range pp.LeftMembers {
		left[name] = true
		n.handleLeaveIntent(&leaveIntent{LTime: pp.StatusLTimes[name], Node: name})
	}
	for name, lt := range pp.StatusLTimes {
		if !left[name] {
			n.handleJoinIntent(&joinIntent{LTime: lt, Node: name})
		}
	}
	if !ignoreEvents { // else all marked seen above
		for i := range pp.Events {
			n.handleUserEvent(&pp.Events[i])
		}
	}
	for owner, v := range pp.Catalog {
		if n.nameOrDrop(msgPushPull, owner) {
			n.noteVersion(owner, v)
		}
	}
}

func (e *eventDelegate) NotifyJoin(mn *memberlist.Node)   { e.n.handleNodeJoin(mn) }
func (e *eventDelegate) NotifyLeave(mn *memberlist.Node)  { e.n.handleNodeLeave(mn) }
func (e *eventDelegate) NotifyUpdate(mn *memberlist.Node) { e.n.handleNodeUpdate(mn) }

// NotifyConflict reports two machines claiming one name. memberlist keeps
// the member it knew first. A conflict about another member is reported;
// one about this node's own name is put to a vote (see conflict.go).
func (c *conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	c.n.handleNameConflict(existing, other)
}

// nameOrDrop counts and drops a message whose node name breaks the rules:
// it names no member this node could know.
func (n *Node) nameOrDrop(t messageType, name string) bool {
	if !ValidName(name) {
		n.dropMessage(t.String(), fmt.Errorf("invalid node name %q", clip(name)))
		return false
	}
	return true
}

// receive decodes body as an M and hands it to handle, which says whether
// to rebroadcast it. A message that is malformed, or carries a node name
// (read by one of names) that breaks the rules, is counted and dropped,
// never rebroadcast.
func receive[M any, P interface {
	*M
	message
}](n *Node, t messageType, body []byte, handle func(P) bool, names ...func(P) string) bool {
	m := P(new(M))
	if !n.decodeOrDrop(t, body, m) {
		return false
	}
	for _, name := range names {
		if !n.nameOrDrop(t, name(m)) {
			return false
		}
	}
	return handle(m)
}

// decodeOrDrop decodes body into m, counting and dropping a malformed message.
func (n *Node) decodeOrDrop(t messageType, body []byte, m message) bool {
	if err := decodeMessage(body, m); err != nil {
		n.dropMessage(t.String(), err)
		return false
	}
	return true
}
