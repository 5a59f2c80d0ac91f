// Package node is shoal's gossip core. It wraps memberlist and gives the
// rest of the program one consistent, read-only view of the cluster (a
// Snapshot), a change signal (Watch) and an event stream (Subscribe), and it
// carries user events and queries. It does for shoal what Serf's library
// does on top of memberlist.
package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

type lifecycle uint8

const (
	stateCreated lifecycle = iota
	stateAlive
	stateLeaving
	stateLeft
	stateShutdown
)

// Node is one member of a shoal cluster. New allocates it; Start joins the
// network; Leave and Shutdown end it.
type Node struct {
	cfg      Config
	logger   *slog.Logger
	mlLogger *slog.Logger // memberlist's lines: component=memberlist, once
	mlConfig *memberlist.Config
	mlPtr    atomic.Pointer[memberlist.Memberlist]
	keyring  *memberlist.Keyring

	clock      lamportClock // member status changes
	eventClock lamportClock
	queryClock lamportClock

	broadcasts      *broadcastQueue
	eventBroadcasts *broadcastQueue
	queryBroadcasts *broadcastQueue
	// catalogBroadcasts holds at most one record or notice per owner.
	catalogBroadcasts *broadcastQueue

	lifeMu sync.Mutex
	life   lifecycle

	metaMu sync.RWMutex
	tags   map[string]string
	meta   []byte

	// mu guards the membership state and the catalog below.
	mu            sync.Mutex
	members       map[string]*memberState
	cat           catalogState
	recentIntents map[string]nodeIntent
	version       uint64
	snap          atomic.Pointer[Snapshot]

	events  eventState
	queries queryState

	// suspicionCh carries this node's prober's suspicions from memberlist's
	// logger to suspicionLoop; suspicionRearm tells the loop a suspicion
	// began, so it can re-arm its expiry timer.
	suspicionCh    chan string
	suspicionRearm chan struct{}

	delivery  *delivery
	eagerPush *eagerPusher // user events pushed at once (eagerpush.go)
	snapshot  *snapshotter
	coords    *coordinates // nil with DisableCoordinates

	subMu     sync.Mutex
	subs      map[int]chan Event
	watchers  map[int]chan struct{}
	nextSubID int
	subClosed bool

	stats     counters
	rejectLog rejectLimiter

	// Name conflict votes (conflict.go).
	conflictMu sync.Mutex
	voting     bool
	voteClosed bool // set by Shutdown: no vote starts after it
	lastVote   time.Time
	fatalCh    chan error
	fatalErr   atomic.Pointer[error]

	shutdownCh   chan struct{}
	wg           sync.WaitGroup
	shutdownOnce sync.Once
}

// counters are exported through Stats for metrics.
type counters struct {
	droppedMessages   atomic.Uint64
	droppedEvents     atomic.Uint64
	droppedBroadcasts atomic.Uint64
	nameConflicts     atomic.Uint64
	rejectedMembers   atomic.Uint64
	userEvents        atomic.Uint64
	eventPushes       atomic.Uint64
	queries           atomic.Uint64
	// Query relays: responses forwarded for others, and repeats of an
	// ack or response the querier already had.
	relayedResponses   atomic.Uint64
	duplicateResponses atomic.Uint64
	// The catalog (catalog.go).
	catalogBroadcasts atomic.Uint64
	catalogReceived   atomic.Uint64
	catalogFetches    atomic.Uint64
	catalogRejected   atomic.Uint64
}

// Stats are counters and gauges for metrics and `shoal info`.
type Stats struct {
	Members, Alive, Suspect, Failed, Left, Leaving int
	// Health is memberlist's awareness score: 0 is healthy.
	Health                 int
	LamportTime, EventTime LamportTime
	QueryTime              LamportTime
	// DroppedMessages counts malformed or unknown gossip messages.
	DroppedMessages uint64
	// DroppedEvents counts events a slow subscriber missed.
	DroppedEvents uint64
	// DroppedBroadcasts counts messages pruned from full broadcast queues.
	DroppedBroadcasts uint64
	NameConflicts     uint64
	UserEvents        uint64
	EventPushes       uint64 // user events this node pushed eagerly (eagerpush.go)
	Queries           uint64
	// PendingQueries counts this node's queries still waiting for answers.
	PendingQueries int
	Encrypted      bool

	// RejectedMembers counts remote members kept out of the view because
	// their name, address or tags break this node's rules.
	RejectedMembers uint64
	// RejectedCoordinates counts network coordinates from probe acks
	// that were refused as malformed or out of bounds.
	RejectedCoordinates uint64

	// CatalogBroadcasts counts this node's own catalog records (or
	// notices of them) queued for gossip: at most one per
	// CatalogInterval. CatalogReceived counts newer records of other
	// members taken in (by gossip, fetch or reply), CatalogFetches the
	// fetches this node sent to owners, CatalogRejected the records
	// dropped as invalid (also in DroppedMessages).
	CatalogBroadcasts, CatalogReceived, CatalogFetches, CatalogRejected uint64
}

// New validates cfg and allocates a Node. It starts nothing: register
// subscribers, then call Start.
func New(cfg Config, logger *slog.Logger) (*Node, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	meta, err := encodeMeta(cfg.Tags)
	if err != nil {
		return nil, err
	}
	local, err := newRecord(cfg.Name, nextVersion(0), cfg.Services, cfg.NodeChecks)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:           cfg,
		logger:        logger.With("component", "node"),
		mlLogger:      logger.With("component", "memberlist"),
		tags:          copyTags(cfg.Tags),
		meta:          meta,
		members:       map[string]*memberState{},
		cat:           newCatalogState(),
		recentIntents: map[string]nodeIntent{},
		subs:          map[int]chan Event{},
		watchers:      map[int]chan struct{}{},
		shutdownCh:    make(chan struct{}),
		fatalCh:       make(chan error, 1),

		suspicionCh:    make(chan string, 64),
		suspicionRearm: make(chan struct{}, 1),
	}
	n.events.seenRing = newSeenRing[userEventMsg](cfg.EventBuffer)
	n.queries.seenRing = newSeenRing[uint32](cfg.QueryBuffer)
	n.queries.responses = map[LamportTime]*QueryResponse{}
	n.cat.local, n.cat.dirty = local, true
	n.snap.Store(&Snapshot{Self: cfg.Name})
	n.delivery = newDelivery(n)
	n.eagerPush = newEagerPusher(cfg.EventPushRate)
	if n.keyring, err = loadKeyring(cfg); err != nil {
		return nil, err
	}
	if !cfg.DisableCoordinates {
		if n.coords, err = newCoordinates(cfg.Name); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Start opens the gossip ports and, when a snapshot lists earlier peers,
// rejoins them in the background.
func (n *Node) Start() error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.life != stateCreated {
		return errors.New("node: already started")
	}
	if n.cfg.SnapshotPath != "" {
		snap, err := openSnapshot(n.cfg.SnapshotPath, n.logger)
		if err != nil {
			return err
		}
		n.snapshot = snap
		n.restoreClocks(snap.restored)
	}
	// The first status change of this node is its own join.
	n.clock.Increment()

	mc := n.cfg.memberlistConfig()
	mc.Delegate = &delegate{n}
	mc.Events = &eventDelegate{n}
	mc.Conflict = &conflictDelegate{n}
	mc.Alive = &aliveDelegate{n}
	mc.Merge = &mergeDelegate{n}
	// Always: probe acks clear suspicions (suspicion.go) even when
	// coordinates are off.
	mc.Ping = &pingDelegate{n}
	mc.Keyring = n.keyring
	mc.SecretKey = nil
	mc.Logger = log.New(&memberlistLog{logger: n.mlLogger, suspect: n.localSuspicion, stopping: n.stopping}, "", 0)
	mc.LogOutput = nil
	n.mlConfig = mc
	numNodes := func() int { return n.list().NumMembers() }
	// memberlist hands each gossip target its own GetBroadcasts call, so a
	// low multiplier (the local profile's 2) can leave a member out of an
	// event's epidemic; shoal's messages get at least LAN's 4.
	mult := max(mc.RetransmitMult, 4)
	n.broadcasts = newBroadcastQueue(n, "intent", numNodes, mult)
	n.eventBroadcasts = newBroadcastQueue(n, "event", numNodes, mult)
	n.queryBroadcasts = newBroadcastQueue(n, "query", numNodes, mult)
	n.catalogBroadcasts = newBroadcastQueue(n, "catalog", numNodes, mult)

	ml, err := memberlist.Create(mc)
	if err != nil {
		if n.snapshot != nil {
			n.snapshot.close()
		}
		return fmt.Errorf("start gossip on %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	n.mlPtr.Store(ml)
	n.life = stateAlive
	ip, port := n.LocalAddr()
	n.logger.Info("gossip started", "name", n.cfg.Name, "addr", net.JoinHostPort(ip.String(), fmt.Sprint(port)),
		"encrypted", n.Encrypted(), "profile", n.cfg.Profile)

	n.wg.Add(5)
	go n.catalogLoop()
	go n.delivery.run()
	go n.reapLoop()
	go n.reconnectLoop()
	go n.suspicionLoop()
	if n.snapshot != nil {
		n.wg.Add(1)
		go n.snapshot.run(n)
		if peers := n.snapshot.restored.peers; len(peers) > 0 {
			if n.snapshot.restored.left && !n.cfg.RejoinAfterLeave {
				n.logger.Info("snapshot shows a graceful leave; not rejoining (rejoin_after_leave is off)")
			} else {
				n.wg.Add(1)
				go n.rejoin(peers)
			}
		}
	}
	return nil
}

// rejoin contacts the peers a snapshot remembers, without replaying old events.
func (n *Node) rejoin(peers []string) {
	defer n.wg.Done()
	joined, err := n.Join(peers, false)
	if err != nil {
		n.logger.Warn("rejoin from snapshot failed", "peers", peers, "err", err)
		return
	}
	n.logger.Info("rejoined from snapshot", "contacted", joined)
}

// Join contacts the given addresses. With replay false, user events and
// queries from before the join are not delivered.
func (n *Node) Join(addrs []string, replay bool) (int, error) {
	if n.list() == nil {
		return 0, errors.New("join: node not started")
	}
	if !replay {
		n.events.joinIgnore.Store(true)
		defer n.events.joinIgnore.Store(false)
		if !n.hasAlivePeers() {
			// A fresh node: peers' events wait until the join's state
			// exchange has said what is old (see eventState.held). Runs
			// before joinIgnore clears.
			n.events.startHolding()
			defer func() {
				for _, msg := range n.events.stopHolding() {
					n.acceptUserEvent(&msg)
				}
			}()
		}
	}
	joined, err := n.list().Join(addrs)
	if joined > 0 {
		n.broadcastJoin(n.clock.Time())
		// Push/pull told the contacted members our record's version;
		// a broadcast tells the rest without waiting for theirs.
		n.mu.Lock()
		n.cat.dirty = true
		n.mu.Unlock()
		n.kickCatalog()
	}
	if err != nil {
		return joined, fmt.Errorf("join %v: %w", addrs, oneLine(err))
	}
	return joined, nil
}

// joinFailures is memberlist's multi-error for a join, one reason per
// address, printed on one line: memberlist's own text ("1 error
// occurred:\n\t* ...\n\n") breaks a log line and a CLI error in three.
type joinFailures []error

func (f joinFailures) Error() string {
	msgs := make([]string, len(f))
	for i, err := range f {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (f joinFailures) Unwrap() []error { return f }

// oneLine returns err's reasons as joinFailures when it is a multi-error.
func oneLine(err error) error {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) && len(multi.WrappedErrors()) > 0 {
		return joinFailures(multi.WrappedErrors())
	}
	return err
}

// Leave announces a graceful departure and waits, bounded by the leave
// timeout, for it to spread. Shutdown must still be called.
func (n *Node) Leave() error {
	n.lifeMu.Lock()
	if n.life != stateAlive {
		life := n.life
		n.lifeMu.Unlock()
		if life == stateLeft || life == stateLeaving {
			return nil
		}
		return errors.New("leave: node is not running")
	}
	n.life = stateLeaving
	n.lifeMu.Unlock()

	if n.snapshot != nil {
		n.snapshot.recordLeave()
	}
	msg := leaveIntent{LTime: n.clock.Increment(), Node: n.cfg.Name}
	n.handleLeaveIntent(&msg)
	notify := make(chan struct{})
	wire := encodeMessage(msgLeaveIntent, &msg)
	n.broadcasts.QueueBroadcast(&broadcast{msg: wire, notify: notify})
	n.tellPeersDirectly(wire)
	if n.hasAlivePeers() {
		select {
		case <-notify:
		case <-time.After(n.cfg.LeaveTimeout):
			n.logger.Warn("timed out spreading leave intent", "timeout", n.cfg.LeaveTimeout)
		}
	}
	if err := n.leaveGossip(); err != nil {
		return err
	}
	n.lifeMu.Lock()
	n.life = stateLeft
	n.lifeMu.Unlock()
	n.logger.Info("left the cluster")
	return nil
}

// directLeaveFanout bounds the peers a leaving node tells directly.
const directLeaveFanout = 512

// tellPeersDirectly sends msg (the leave intent) in one best-effort packet
// to each live peer, besides gossiping it. Gossip alone can lose the race
// with memberlist's own leave notice, which the leaver sends straight to
// random peers as soon as the intent's retransmissions are spent: a peer
// that got the notice first saw the member fail, and a load balancer
// shut its sessions instead of draining them. One packet per peer, once
// per leave, is cheap next to that; past directLeaveFanout peers, gossip
// carries the rest.
func (n *Node) tellPeersDirectly(msg []byte) {
	sent := 0
	for _, peer := range n.Snapshot().Members {
		if peer.Name == n.cfg.Name || !peer.Status.AliveOrSuspect() {
			continue
		}
		if sent == directLeaveFanout {
			return
		}
		if err := n.list().SendBestEffort(mlNode(peer), msg); err != nil {
			n.logger.Debug("telling a peer of the leave directly", "member", peer.Name, "err", err)
		}
		sent++
	}
}

func (n *Node) hasAlivePeers() bool {
	for _, m := range n.Snapshot().Members {
		if m.Name != n.cfg.Name && m.Status.AliveOrSuspect() {
			return true
		}
	}
	return false
}

// stopping reports whether Shutdown has begun.
func (n *Node) stopping() bool {
	select {
	case <-n.shutdownCh:
		return true
	default:
		return false
	}
}

// Shutdown stops gossip and every goroutine, without leaving: peers will
// see this node fail. It is idempotent.
func (n *Node) Shutdown() error {
	var err error
	n.shutdownOnce.Do(func() {
		n.lifeMu.Lock()
		n.life = stateShutdown
		n.lifeMu.Unlock()
		n.conflictMu.Lock()
		n.voteClosed = true
		n.conflictMu.Unlock()
		close(n.shutdownCh)
		if n.list() != nil {
			if e := n.list().Shutdown(); e != nil {
				err = fmt.Errorf("shutdown gossip: %w", e)
			}
		}
		n.wg.Wait()
		if n.snapshot != nil {
			n.snapshot.close()
		}
		n.subMu.Lock()
		n.subClosed = true
		for id, ch := range n.subs {
			close(ch)
			delete(n.subs, id)
		}
		n.subMu.Unlock()
	})
	return err
}

// Done is closed when Shutdown begins.
func (n *Node) Done() <-chan struct{} { return n.shutdownCh }

// Name is the local node's name.
func (n *Node) Name() string { return n.cfg.Name }

// LocalAddr is the address and port other members reach this node on.
func (n *Node) LocalAddr() (net.IP, uint16) {
	if n.list() == nil {
		return nil, 0
	}
	ln := n.list().LocalNode()
	return ln.Addr, ln.Port
}

// Snapshot returns the current immutable view of the cluster.
func (n *Node) Snapshot() *Snapshot { return n.snap.Load() }

// Members returns the current members, sorted by name.
func (n *Node) Members() []Member { return n.Snapshot().Members }

// Watch returns a channel that receives a value after membership changes.
// Its capacity is 1: a burst of changes collapses into one signal, and the
// consumer reads the newest Snapshot. Call cancel to stop watching.
func (n *Node) Watch() (<-chan struct{}, func()) {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	id := n.nextSubID
	n.nextSubID++
	ch := make(chan struct{}, 1)
	n.watchers[id] = ch
	return ch, func() {
		n.subMu.Lock()
		delete(n.watchers, id)
		n.subMu.Unlock()
	}
}

// Subscribe returns a stream of events with the given buffer. A subscriber
// that falls more than buffer events behind loses events (counted in
// Stats.DroppedEvents); gossip is never blocked. The channel is closed at
// Shutdown or by cancel.
func (n *Node) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer < 1 {
		buffer = 1
	}
	n.subMu.Lock()
	defer n.subMu.Unlock()
	ch := make(chan Event, buffer)
	if n.subClosed {
		close(ch)
		return ch, func() {}
	}
	id := n.nextSubID
	n.nextSubID++
	n.subs[id] = ch
	return ch, func() {
		n.subMu.Lock()
		defer n.subMu.Unlock()
		if c, ok := n.subs[id]; ok {
			delete(n.subs, id)
			close(c)
		}
	}
}

func (n *Node) publish(ev Event) {
	n.forgetCoordinate(ev)
	if q, ok := ev.(*Query); ok && q.Name == queryConflict {
		// Answered by the node itself, never by a handler.
		n.answerConflictQuery(q)
		return
	}
	n.subMu.Lock()
	defer n.subMu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- ev:
		default:
			n.stats.droppedEvents.Add(1)
			n.logger.Warn("subscriber is full; event dropped", "event", ev.String())
		}
	}
}

func (n *Node) signalWatchers() {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	for _, ch := range n.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// SetTags replaces the local user tags and gossips them. A set that does
// not fit in node meta is refused and the old tags stay.
func (n *Node) SetTags(tags map[string]string) error {
	meta, err := encodeMeta(tags)
	if err != nil {
		return err
	}
	n.metaMu.Lock()
	n.tags, n.meta = copyTags(tags), meta
	n.metaMu.Unlock()
	if n.list() == nil {
		return nil
	}
	if err := n.list().UpdateNode(n.cfg.LeaveTimeout); err != nil {
		return fmt.Errorf("gossip tag update: %w", err)
	}
	return nil
}

// Tags returns a copy of the local user tags.
func (n *Node) Tags() map[string]string {
	n.metaMu.RLock()
	defer n.metaMu.RUnlock()
	return copyTags(n.tags)
}

// DefaultQueryTimeout is GossipInterval * QueryTimeoutMult * ceil(log10(N+1)),
// long enough for a query to reach every member and the answers to return.
func (n *Node) DefaultQueryTimeout() time.Duration {
	members := 1
	interval := 200 * time.Millisecond
	if n.list() != nil {
		members = n.list().NumMembers()
		interval = n.mlConfig.GossipInterval
	}
	scale := math.Ceil(math.Log10(float64(members) + 1))
	return time.Duration(float64(interval) * float64(n.cfg.QueryTimeoutMult) * scale)
}

// Stats returns the node's counters and gauges.
func (n *Node) Stats() Stats {
	s := Stats{
		LamportTime:       n.clock.Time(),
		EventTime:         n.eventClock.Time(),
		QueryTime:         n.queryClock.Time(),
		DroppedMessages:   n.stats.droppedMessages.Load(),
		DroppedEvents:     n.stats.droppedEvents.Load(),
		DroppedBroadcasts: n.stats.droppedBroadcasts.Load(),
		NameConflicts:     n.stats.nameConflicts.Load(),
		RejectedMembers:   n.stats.rejectedMembers.Load(),
		UserEvents:        n.stats.userEvents.Load(),
		EventPushes:       n.stats.eventPushes.Load(),
		Queries:           n.stats.queries.Load(),
		PendingQueries:    n.queries.pending(),
		Encrypted:         n.Encrypted(),
		CatalogBroadcasts: n.stats.catalogBroadcasts.Load(),
		CatalogReceived:   n.stats.catalogReceived.Load(),
		CatalogFetches:    n.stats.catalogFetches.Load(),
		CatalogRejected:   n.stats.catalogRejected.Load(),
	}
	for _, m := range n.Snapshot().Members {
		s.Members++
		switch m.Status {
		case StatusAlive:
			s.Alive++
		case StatusSuspect:
			s.Suspect++
		case StatusFailed:
			s.Failed++
		case StatusLeft:
			s.Left++
		case StatusLeaving:
			s.Leaving++
		}
	}
	if n.list() != nil {
		s.Health = n.list().GetHealthScore()
	}
	if n.coords != nil {
		s.RejectedCoordinates = n.coords.rejected.Load()
	}
	return s
}

// dropMessage counts and logs a gossip message that could not be used.
func (n *Node) dropMessage(what string, err error) {
	n.stats.droppedMessages.Add(1)
	n.logger.Debug("dropped gossip message", "message", what, "err", err)
}

func copyTags(t map[string]string) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

func sortedMembers(m map[string]*memberState) []Member {
	out := make([]Member, 0, len(m))
	for _, ms := range m {
		out = append(out, ms.Member)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run starts the node, blocks until ctx is cancelled, then leaves
// (bounded by the leave timeout) and shuts down. When the node stops on
// its own (see Fatal), Run returns that error.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-n.shutdownCh:
		if err := n.fatalErr.Load(); err != nil {
			return *err
		}
		return nil
	}
	leaveErr := n.Leave()
	if err := n.Shutdown(); err != nil {
		return errors.Join(leaveErr, err)
	}
	return leaveErr
}

// list is the running memberlist, or nil before Start.
func (n *Node) list() *memberlist.Memberlist { return n.mlPtr.Load() }
