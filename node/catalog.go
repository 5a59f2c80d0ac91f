package node

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// The service catalog. Each member owns one record (catalog_record.go) with
// its instances and checks; only the owner writes it and the higher
// version wins. Versions start from the wall clock, so an owner restarted
// under the same name publishes a record newer than the one the cluster
// holds; an owner that hears of a version of its own record at or above
// its current one (its clock went back) jumps past it and republishes.
//
// Spread: a record that fits in a gossip packet is broadcast whole; a
// larger one is announced by a notice (owner, version), and members that
// hold an older version fetch it from the owner over TCP, at most once per
// CatalogInterval per owner. Push/pull carries every record's version, so a
// late joiner or a healed partition fetches what it missed. The owner
// coalesces changes: the first after a quiet interval goes out at once,
// then at most one per CatalogInterval.

// catalogState is guarded by Node.mu.
type catalogState struct {
	local    *catalogRecord
	records  map[string]*catalogRecord // other members' records, by owner
	wants    map[string]want           // newer versions heard of, by owner
	fetched  map[string]time.Time      // last fetch per owner, for the rate limit
	replies  map[string]bool           // members that asked for our record
	dirty    bool                      // local record changed since it was last sent
	sending  bool                      // a batch of fetches and replies is out
	lastSent time.Time
	kick     chan struct{}
}

type want struct {
	version uint64
	seen    time.Time
}

// maxHeldRecords bounds the records and wants held for members that
// memberlist has not reported (yet): forged names must not grow memory.
const maxHeldRecords = 4096

// catalogTick is how often the catalog loop looks for due sends and
// fetches when nothing kicks it.
const catalogTick = 50 * time.Millisecond

func newCatalogState() catalogState {
	return catalogState{
		records: map[string]*catalogRecord{}, wants: map[string]want{},
		fetched: map[string]time.Time{}, replies: map[string]bool{},
		kick: make(chan struct{}, 1),
	}
}

// nextVersion is past prev and at least the wall clock in nanoseconds.
func nextVersion(prev uint64) uint64 {
	return max(prev+1, uint64(time.Now().UnixNano()))
}

// SetCatalog publishes the local service instances and node-level checks.
// It validates them (the error names the instance and field), defaults
// IDs to names, folds node checks into every instance's Health, updates
// the local Snapshot entry at once and gossips the change, coalesced to
// at most one broadcast per CatalogInterval. A catalog equal to the
// current one is not sent again.
func (n *Node) SetCatalog(services []Service, nodeChecks []CheckState) error {
	if err := CheckCatalog(services, nodeChecks); err != nil {
		return err
	}
	n.mu.Lock()
	rec, err := newRecord(n.cfg.Name, nextVersion(n.cat.local.Version), services, nodeChecks)
	if err != nil || string(rec.content) == string(n.cat.local.content) {
		n.mu.Unlock()
		return err
	}
	n.cat.local, n.cat.dirty = rec, true
	ev := n.setMemberCatalogLocked(n.cfg.Name, rec)
	n.mu.Unlock()
	n.publishHealth(ev)
	n.kickCatalog()
	return nil
}

// SetServices replaces the local service instances, keeping the node checks.
func (n *Node) SetServices(services []Service) error {
	n.mu.Lock()
	checks := n.cat.local.Checks
	n.mu.Unlock()
	return n.SetCatalog(services, checks)
}

// LocalCatalog returns copies of the local instances and node checks as
// last set, with IDs defaulted and Health folded in.
func (n *Node) LocalCatalog() ([]Service, []CheckState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	svcs, checks, _ := normalizeCatalog(n.cat.local.Services, n.cat.local.Checks)
	return svcs, checks
}

func (n *Node) kickCatalog() {
	select {
	case n.cat.kick <- struct{}{}:
	default:
	}
}

// recordFor returns the record that describes name, or nil. n.mu held.
func (n *Node) recordForLocked(name string) *catalogRecord {
	if name == n.cfg.Name {
		return n.cat.local
	}
	return n.cat.records[name]
}

// fillCatalogLocked copies a member's record into m. n.mu held.
func (n *Node) fillCatalogLocked(m *Member) {
	m.Services, m.Checks, m.Health = nil, nil, HealthPassing
	if r := n.recordForLocked(m.Name); r != nil {
		m.Services, m.Checks, m.Health = r.Services, r.Checks, r.Health
	}
}

// setMemberCatalogLocked puts a record into the member's view entry and
// returns the health change it makes, or nil. n.mu held.
func (n *Node) setMemberCatalogLocked(name string, r *catalogRecord) *HealthEvent {
	ms, ok := n.members[name]
	if !ok {
		return nil
	}
	prev := ms.Member
	n.fillCatalogLocked(&ms.Member)
	n.rebuildLocked()
	return healthChange(prev, ms.Member)
}

// acceptRecord stores a record from another member if it is newer than
// the one held. It reports whether it was news.
func (n *Node) acceptRecord(r *catalogRecord) bool {
	if r.Node == n.cfg.Name {
		n.refute(r.Version)
		return false
	}
	n.mu.Lock()
	old := n.cat.records[r.Node]
	_, known := n.members[r.Node]
	switch {
	case old != nil && old.Version >= r.Version:
		n.mu.Unlock()
		return false
	case old == nil && !known && len(n.cat.records) >= maxHeldRecords:
		n.mu.Unlock()
		n.dropMessage("catalog", fmt.Errorf("%d records already held; record of unknown member %q dropped", maxHeldRecords, r.Node))
		return false
	}
	r.seen = time.Now()
	n.cat.records[r.Node] = r
	if w, ok := n.cat.wants[r.Node]; ok && w.version <= r.Version {
		delete(n.cat.wants, r.Node)
	}
	ev := n.setMemberCatalogLocked(r.Node, r)
	n.mu.Unlock()
	n.stats.catalogReceived.Add(1)
	n.publishHealth(ev)
	return true
}

// noteVersion records that owner's record has reached version; if that is
// newer than the record held, the record is fetched. It reports whether
// the news was new to this node (and so worth gossiping on).
func (n *Node) noteVersion(owner string, version uint64) bool {
	if owner == n.cfg.Name {
		n.refute(version)
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.cat.records[owner]; r != nil && r.Version >= version {
		return false
	}
	w, ok := n.cat.wants[owner]
	if ok && w.version >= version {
		return false
	}
	if _, known := n.members[owner]; !ok && !known && len(n.cat.wants) >= maxHeldRecords {
		n.dropMessage("catalog-notice", fmt.Errorf("%d wants already held; notice of unknown member %q dropped", maxHeldRecords, owner))
		return false
	}
	n.cat.wants[owner] = want{version: version, seen: time.Now()}
	n.kickCatalog()
	return true
}

// refute answers news of a version of our own record past ours (we
// restarted and the clock went back): jump past it and republish. Our
// own current version coming back to us is no news. Records are never
// changed in place: the catalog loop may be sending this one.
func (n *Node) refute(version uint64) {
	n.mu.Lock()
	if version <= n.cat.local.Version {
		n.mu.Unlock()
		return
	}
	r := *n.cat.local
	r.setVersion(nextVersion(version))
	n.cat.local, n.cat.dirty = &r, true
	n.mu.Unlock()
	n.logger.Info("catalog record of this node seen with a newer version; republishing", "seen", version)
	n.kickCatalog()
}

// forgetRecordLocked drops a reaped member's record. n.mu held.
func (n *Node) forgetRecordLocked(name string) {
	delete(n.cat.records, name)
	delete(n.cat.wants, name)
	delete(n.cat.fetched, name)
	delete(n.cat.replies, name)
}

// reapRecordsLocked forgets records and wants of members that memberlist
// never reported within recentIntentTimeout. n.mu held.
func (n *Node) reapRecordsLocked(now time.Time) {
	for name, r := range n.cat.records {
		if _, ok := n.members[name]; !ok && now.Sub(r.seen) > recentIntentTimeout {
			n.forgetRecordLocked(name)
		}
	}
	for name, w := range n.cat.wants {
		if _, ok := n.members[name]; !ok && now.Sub(w.seen) > recentIntentTimeout {
			delete(n.cat.wants, name)
		}
	}
}

// catalogVersionsLocked lists the version of every record held, ours
// included, for push/pull. n.mu held.
func (n *Node) catalogVersionsLocked() map[string]uint64 {
	out := make(map[string]uint64, len(n.cat.records)+1)
	for name, r := range n.cat.records {
		if _, ok := n.members[name]; ok {
			out[name] = r.Version
		}
	}
	out[n.cfg.Name] = n.cat.local.Version
	return out
}

// catalogLoop sends the local record when due, and the fetches and
// replies that gossip asked for. It owns every TCP send of the catalog,
// so no memberlist callback ever blocks on the network.
func (n *Node) catalogLoop() {
	defer n.wg.Done()
	t := time.NewTicker(catalogTick)
	defer t.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-n.cat.kick:
		case <-t.C:
		}
		n.catalogWork(time.Now())
	}
}

func (n *Node) catalogWork(now time.Time) {
	n.mu.Lock()
	var send *catalogRecord
	if n.cat.dirty && now.Sub(n.cat.lastSent) >= n.cfg.CatalogInterval {
		send, n.cat.dirty, n.cat.lastSent = n.cat.local, false, now
	}
	if n.cat.sending {
		// The last batch of TCP sends is still out (a slow or dead
		// peer): fetches and replies wait for it, broadcasts do not.
		n.mu.Unlock()
		if send != nil {
			n.broadcastRecord(send)
		}
		return
	}
	var fetch []string
	for owner, w := range n.cat.wants {
		if r := n.cat.records[owner]; r != nil && r.Version >= w.version {
			delete(n.cat.wants, owner)
			continue
		}
		if now.Sub(n.cat.fetched[owner]) >= n.cfg.CatalogInterval {
			n.cat.fetched[owner] = now
			fetch = append(fetch, owner)
		}
	}
	for owner, at := range n.cat.fetched {
		if now.Sub(at) > n.cfg.CatalogInterval {
			if _, ok := n.cat.wants[owner]; !ok {
				delete(n.cat.fetched, owner)
			}
		}
	}
	replyTo := make([]string, 0, len(n.cat.replies))
	for name := range n.cat.replies {
		replyTo = append(replyTo, name)
	}
	clear(n.cat.replies)
	local := n.cat.local.raw
	busy := len(fetch) > 0 || len(replyTo) > 0
	n.cat.sending = busy
	n.mu.Unlock()

	if send != nil {
		n.broadcastRecord(send)
	}
	if busy {
		n.wg.Add(1)
		go n.sendFetchesAndReplies(fetch, replyTo, local)
	}
}

// sendFetchesAndReplies does one batch of the catalog's TCP sends, off
// the catalog loop, so a peer that does not answer delays no broadcast.
func (n *Node) sendFetchesAndReplies(fetch, replyTo []string, local []byte) {
	defer n.wg.Done()
	req := encodeMessage(msgCatalogFetch, &catalogFetch{From: n.cfg.Name})
	for _, owner := range fetch {
		n.stats.catalogFetches.Add(1)
		n.sendTo(owner, req, "catalog fetch")
	}
	for _, name := range replyTo {
		n.sendTo(name, local, "catalog reply")
	}
	n.mu.Lock()
	n.cat.sending = false
	n.mu.Unlock()
	n.kickCatalog()
}

// broadcastRecord gossips the record itself when it fits in a gossip
// packet, or else a notice that makes receivers fetch it.
func (n *Node) broadcastRecord(r *catalogRecord) {
	msg := r.raw
	if len(msg) > n.catalogBroadcastLimit() {
		msg = encodeMessage(msgCatalogNotice, &catalogNotice{Node: r.Node, Version: r.Version})
	}
	n.stats.catalogBroadcasts.Add(1)
	n.catalogBroadcasts.QueueBroadcast(&namedBroadcast{name: r.Node, msg: msg})
}

// catalogBroadcastLimit is the largest record broadcast whole: half a
// gossip packet, so a record still shares packets with other messages.
func (n *Node) catalogBroadcastLimit() int {
	if n.mlConfig == nil {
		return 0
	}
	return n.mlConfig.UDPBufferSize / 2
}

// sendTo sends msg over TCP to the alive member called name.
func (n *Node) sendTo(name string, msg []byte, what string) {
	ml := n.list()
	if ml == nil {
		return
	}
	m, ok := n.Snapshot().Get(name)
	if !ok || !m.Status.AliveOrSuspect() {
		return
	}
	if err := ml.SendReliable(mlNode(m), msg); err != nil {
		n.logger.Debug(what+" failed", "member", name, "err", err)
	}
}

// mlNode is m's gossip address as memberlist's send calls take it, built
// from node's own snapshot: the *memberlist.Node values Members returns
// are memberlist's live state, which its gossip goroutines keep writing,
// so reading them later (as a send does) races with them.
func mlNode(m Member) *memberlist.Node {
	return &memberlist.Node{Name: m.Name, Addr: m.Addr, Port: m.Port}
}

// handleCatalogMsg handles the catalog's gossip and TCP messages. Records
// and notices that were news are gossiped on (records only when they fit
// in a packet); buf is copied because memberlist may reuse it.
func (n *Node) handleCatalogMsg(t messageType, body, buf []byte) {
	switch t {
	case msgCatalog:
		r, err := decodeRecord(body)
		if err != nil {
			n.rejectRecord(t.String(), err)
			return
		}
		if n.acceptRecord(r) && len(buf) <= n.catalogBroadcastLimit() {
			n.catalogBroadcasts.QueueBroadcast(&namedBroadcast{name: r.Node, msg: append([]byte(nil), buf...)})
		}
	case msgCatalogNotice:
		var m catalogNotice
		if !n.decodeOrDrop(t, body, &m) || !n.nameOrDrop(t, m.Node) {
			return
		}
		if n.noteVersion(m.Node, m.Version) {
			n.catalogBroadcasts.QueueBroadcast(&namedBroadcast{name: m.Node, msg: append([]byte(nil), buf...)})
		}
	case msgCatalogFetch:
		var m catalogFetch
		if n.decodeOrDrop(t, body, &m) && n.nameOrDrop(t, m.From) {
			n.handleCatalogFetch(&m)
		}
	}
}

// handleCatalogFetch queues a reply with our record to a known member.
func (n *Node) handleCatalogFetch(m *catalogFetch) {
	if m.From == n.cfg.Name {
		return
	}
	n.mu.Lock()
	if _, ok := n.members[m.From]; ok {
		n.cat.replies[m.From] = true
	}
	n.mu.Unlock()
	n.kickCatalog()
}

// rejectRecord counts and drops an invalid record, logging at WARN
// rate-limited like rejected members.
func (n *Node) rejectRecord(via string, err error) {
	n.stats.catalogRejected.Add(1)
	n.dropMessage(via, err)
	ok, suppressed := n.rejectLog.allow("catalog:"+via, time.Now())
	if suppressed > 0 {
		n.logger.Warn("rejected member log lines suppressed", "suppressed", suppressed,
			"interval", rejectLogInterval, "hint", "Stats().CatalogRejected counts every rejected record")
	}
	if ok {
		n.logger.Warn("rejected catalog record: remote data breaks this node's rules; dropped", "via", via, "err", err)
	}
}

// namedBroadcast replaces any queued broadcast with the same name: only
// the newest record (or notice) of each owner is worth sending.
type namedBroadcast struct {
	name string
	msg  []byte
}

var _ memberlist.NamedBroadcast = (*namedBroadcast)(nil)

func (b *namedBroadcast) Name() string    { return b.name }
func (b *namedBroadcast) Message() []byte { return b.msg }
func (b *namedBroadcast) Finished()       {}
func (b *namedBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*namedBroadcast)
	return ok && o.name == b.name
}
