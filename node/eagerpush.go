package node

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Eager push of user events.
//
// Gossip alone makes a user event wait for the next gossip tick at every
// hop: with the LAN profile's 200 ms interval, half a tick per hop on
// average, so about 0.3 s to reach every member of ten. A node that sends
// an event, or hears one for the first time, therefore also sends it at
// once in one best-effort packet to GossipNodes random live peers, and
// gossip still carries it as before (receivers de-duplicate by Lamport
// time, so the copies cost nothing but the packets). Delivery then takes a
// few network round trips, with gossip and push/pull as the safety net for
// a lost packet.
//
// Gossip piggybacks on packets it sends anyway, so its bandwidth does not
// grow with the event rate; eager pushes do. They are rate-limited per node
// (EventPushRate a second, bursts of as many), and past the limit events go
// by gossip alone, as Serf sends all of them.

// eagerPusher is a token bucket over eager pushes.
type eagerPusher struct {
	mu     sync.Mutex
	rate   float64 // tokens a second; <= 0 turns eager push off
	tokens float64
	last   time.Time
}

func newEagerPusher(rate int) *eagerPusher {
	return &eagerPusher{rate: float64(rate), tokens: float64(rate)}
}

// allow takes a token if one is left at now.
func (p *eagerPusher) allow(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate <= 0 {
		return false
	}
	if !p.last.IsZero() {
		p.tokens = min(p.rate, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}

// pushEventEagerly sends an encoded user-event message to GossipNodes
// random live peers, unless the rate limit is spent or the message would
// not fit one packet (gossip alone carries those).
func (n *Node) pushEventEagerly(msg []byte) {
	if len(msg) > n.mlConfig.UDPBufferSize-eagerPushOverhead || !n.eagerPush.allow(time.Now()) {
		return
	}
	peers := n.Snapshot().Members
	live := make([]int, 0, len(peers))
	for i, m := range peers {
		if m.Name != n.cfg.Name && m.Status == StatusAlive {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return
	}
	for k := 0; k < n.mlConfig.GossipNodes && k < len(live); k++ {
		// A partial Fisher-Yates shuffle: k distinct random peers.
		j := k + rand.IntN(len(live)-k)
		live[k], live[j] = live[j], live[k]
		if err := n.list().SendBestEffort(mlNode(peers[live[k]]), msg); err != nil {
			n.logger.Debug("pushing a user event to a peer", "member", peers[live[k]].Name, "err", err)
		}
	}
	n.stats.eventPushes.Add(1)
}

// eagerPushOverhead leaves room in a packet for memberlist's message
// header, compression and encryption framing.
const eagerPushOverhead = 128
