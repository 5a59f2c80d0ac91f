package node

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// broadcast is one message queued for gossip. notify, when set, is closed
// once memberlist stops retransmitting it (or it is pruned), which Leave
// waits for.
type broadcast struct {
	msg    []byte
	notify chan struct{}
}

var (
	_ memberlist.Broadcast       = (*broadcast)(nil)
	_ memberlist.UniqueBroadcast = (*broadcast)(nil)
)

// Invalidates is false: intents and events are idempotent and de-duplicated
// by Lamport time on receipt, so nothing needs to be replaced in the queue.
func (b *broadcast) Invalidates(memberlist.Broadcast) bool { return false }

// UniqueBroadcast tells memberlist so, which spares every enqueue a scan
// of the whole queue for messages to invalidate.
func (b *broadcast) UniqueBroadcast() {}
func (b *broadcast) Message() []byte  { return b.msg }
func (b *broadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}

// broadcastQueue is memberlist's transmit-limited queue with a bound. A
// node that makes messages faster than gossip carries them away (or one
// with no peers to carry them) would otherwise grow it without limit.
// Past the bound the messages that were sent most already are dropped, as
// Serf's checkQueueDepth does; unlike Serf it checks on every enqueue, so
// the queue never holds more than the bound, and it warns at most once per
// QueueWarnInterval.
type broadcastQueue struct {
	*memberlist.TransmitLimitedQueue
	name string
	n    *Node

	mu sync.Mutex // serialises enqueue and prune, and guards the fields below
	// Drop and depth warnings are spaced apart separately, so a depth
	// warning never hides the news that messages were dropped.
	lastDropWarn, lastDepthWarn time.Time
	unwarned                    uint64 // drops not yet reported in a warning
}

func newBroadcastQueue(n *Node, name string, numNodes func() int, mult int) *broadcastQueue {
	return &broadcastQueue{
		TransmitLimitedQueue: &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: mult},
		name:                 name,
		n:                    n,
	}
}

// QueueBroadcast queues b, then prunes the queue to its bound.
func (q *broadcastQueue) QueueBroadcast(b memberlist.Broadcast) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.TransmitLimitedQueue.QueueBroadcast(b)
	depth, limit := q.NumQueued(), q.n.queueLimit()
	if depth > limit {
		q.Prune(limit)
		dropped := uint64(depth - limit)
		q.n.stats.droppedBroadcasts.Add(dropped)
		q.unwarned += dropped
	}
	q.warn(depth, limit)
}

// warn reports drops and a deep queue, each at most once per
// QueueWarnInterval. The caller holds q.mu.
func (q *broadcastQueue) warn(depth, limit int) {
	cfg := q.n.cfg
	if q.unwarned == 0 && depth < cfg.QueueDepthWarning {
		return
	}
	now := time.Now()
	due := func(last time.Time) bool { return last.IsZero() || now.Sub(last) >= cfg.QueueWarnInterval }
	switch {
	case q.unwarned > 0 && due(q.lastDropWarn):
		q.lastDropWarn = now
		q.n.logger.Warn("broadcast queue is over its limit; the most-sent messages were dropped",
			"queue", q.name, "limit", limit, "dropped", q.unwarned)
		q.unwarned = 0
	case depth >= cfg.QueueDepthWarning && due(q.lastDepthWarn):
		q.lastDepthWarn = now
		q.n.logger.Warn("broadcast queue is deep: messages are made faster than gossip carries them",
			"queue", q.name, "depth", depth, "warn_depth", cfg.QueueDepthWarning, "limit", limit)
	}
}

// queueLimit is MaxQueueDepth, or, when MinQueueDepth is set, twice the
// members known but at least MinQueueDepth, as in Serf.
func (n *Node) queueLimit() int {
	if n.cfg.MinQueueDepth <= 0 {
		return n.cfg.MaxQueueDepth
	}
	return max(n.cfg.MinQueueDepth, 2*len(n.Snapshot().Members))
}
