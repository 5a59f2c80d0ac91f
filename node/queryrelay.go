package node

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// Query relays, as in Serf: a responder also sends its ack and response
// through RelayFactor random other members, so an answer survives the
// loss of a packet on the direct path. The querier de-duplicates by member.

// relayResponse sends buf, an encoded query response, to the querier of q
// through q.RelayFactor random alive members other than this node and the
// querier. A small cluster relays through whoever there is.
func (n *Node) relayResponse(q *queryMsg, buf []byte) {
	if q.RelayFactor == 0 {
		return
	}
	var peers []Member
	for _, m := range n.Snapshot().Members {
		if m.Status == StatusAlive && m.Name != n.cfg.Name && m.Name != q.SourceNode {
			peers = append(peers, m)
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	peers = peers[:min(len(peers), int(q.RelayFactor))]
	if len(peers) == 0 {
		return
	}
	relay := encodeMessage(msgRelay, &relayMsg{DestAddr: q.Addr, DestPort: q.Port, DestName: q.SourceNode, Msg: buf})
	for _, m := range peers {
		addr := net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
		if err := n.list().SendToAddress(memberlist.Address{Addr: addr, Name: m.Name}, relay); err != nil {
			n.logger.Debug("query response relay failed", "via", m.Name, "to", q.SourceNode, "err", err)
		}
	}
}

// handleRelay forwards a relayed query response to its querier. It
// forwards nothing but a well-formed query response, and only to an alive
// member at the address that member gossips: a relay must not let anyone
// bounce packets off this node to an address of their choosing.
func (n *Node) handleRelay(body []byte) {
	var m relayMsg
	if !n.decodeOrDrop(msgRelay, body, &m) {
		return
	}
	var resp queryResponseMsg
	if len(m.Msg) == 0 || messageType(m.Msg[0]) != msgQueryResponse {
		n.dropMessage("relay", fmt.Errorf("relays carry query responses only"))
		return
	}
	if err := decodeMessage(m.Msg[1:], &resp); err != nil {
		n.dropMessage("relay", fmt.Errorf("relayed query response: %w", err))
		return
	}
	dest, ok := n.Snapshot().Get(m.DestName)
	if !ok || dest.Status != StatusAlive || !dest.Addr.Equal(net.IP(m.DestAddr)) || dest.Port != m.DestPort {
		n.dropMessage("relay", fmt.Errorf("destination %q at %v:%d is not an alive member there",
			m.DestName, net.IP(m.DestAddr), m.DestPort))
		return
	}
	if dest.Name == n.cfg.Name {
		n.handleQueryResponse(&resp)
		return
	}
	n.stats.relayedResponses.Add(1)
	addr := net.JoinHostPort(dest.Addr.String(), strconv.Itoa(int(dest.Port)))
	if err := n.list().SendToAddress(memberlist.Address{Addr: addr, Name: dest.Name}, m.Msg); err != nil {
		n.logger.Debug("forwarding a relayed query response failed", "to", dest.Name, "err", err)
	}
}
