package node

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Name conflicts are resolved as Serf resolves them. memberlist keeps the
// machine it knew first under a name and reports the other one. When the
// name is ours, this node asks every member, by an internal query, which
// address it believes owns the name. If most of the members that know the
// name do not name our address, we lost: the node shuts down and Fatal
// carries the reason, since two machines answering to one name would split
// DNS answers and rendered backends between them.
//
// Unlike Serf, a member that does not know the name, or only as failed or
// left, abstains instead of voting against us, and a vote that nobody
// answers keeps the node running: otherwise a node restarted on a new
// address, whose old entry is still remembered as failed, would shut
// itself down, and both sides of a two-node conflict would.

const queryConflict = reservedPrefix + "-conflict"

const (
	// conflictVoteGap is the least time between two votes: memberlist
	// reports a conflict on every alive message and push/pull that shows
	// the other machine.
	conflictVoteGap = 10 * time.Second
	// conflictVoteMinTimeout is the shortest a vote waits for answers.
	conflictVoteMinTimeout = time.Second
)

// conflictAnswer is a member's view of who owns a name.
type conflictAnswer struct {
	Known bool // the member sees the name alive
	Addr  []byte
	Port  uint16
}

func (m *conflictAnswer) walk(f fields) {
	f.boolean(&m.Known)
	f.bytes(&m.Addr)
	uvarintField(f, &m.Port)
}

// Fatal yields at most one error: why the node stopped on its own (it lost
// a name conflict). The node has shut down by the time it is sent. The
// channel is never closed; an agent selects on it and exits with the error.
func (n *Node) Fatal() <-chan error { return n.fatalCh }

// handleNameConflict runs inside memberlist's conflict callback, so it
// never blocks: a vote runs in its own goroutine.
func (n *Node) handleNameConflict(existing, other *memberlist.Node) {
	n.stats.nameConflicts.Add(1)
	if existing.Name != n.cfg.Name {
		n.logger.Error("node name conflict: two machines claim one name; the second is ignored",
			"name", existing.Name, "existing", existing.Address(), "other", other.Address())
		return
	}
	if !n.startVote() {
		return
	}
	n.logger.Error("node name conflict: another machine claims this node's name; asking the cluster who owns it",
		"name", n.cfg.Name, "other", other.Address())
	go n.runConflictVote()
}

// startVote reports whether a new vote may start, and registers it with
// the node's goroutines: one at a time, at most one per conflictVoteGap,
// and only while the node runs. It takes no lock that is held around a
// memberlist call: memberlist holds its own lock while it reports a
// conflict, also from inside Start.
func (n *Node) startVote() bool {
	n.conflictMu.Lock()
	defer n.conflictMu.Unlock()
	if n.voting || n.voteClosed || n.list() == nil || time.Since(n.lastVote) < conflictVoteGap {
		return false
	}
	n.voting = true
	n.lastVote = time.Now()
	n.wg.Add(1)
	return true
}

func (n *Node) runConflictVote() {
	defer n.wg.Done()
	defer func() {
		n.conflictMu.Lock()
		n.voting = false
		n.lastVote = time.Now()
		n.conflictMu.Unlock()
	}()
	ip, port := n.LocalAddr()
	ours := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	votes, err := n.collectConflictVotes()
	if err != nil {
		n.logger.Error("node name conflict: vote failed; keeping the name for now", "name", n.cfg.Name, "err", err)
		return
	}
	total, top, topAddr := 0, 0, ""
	for addr, c := range votes {
		total += c
		if addr != ours && (c > top || c == top && addr < topAddr) {
			top, topAddr = c, addr
		}
	}
	switch {
	case total == 0:
		n.logger.Error("node name conflict: no member knows an owner of this name; keeping it", "name", n.cfg.Name)
	case votes[ours] > total/2:
		n.logger.Warn("node name conflict: the cluster agrees this node owns the name; keeping it",
			"name", n.cfg.Name, "agree", votes[ours], "answers", total)
	default:
		n.fail(fmt.Errorf("node name %q is in use by %s (%d of %d members agree); pick another -node",
			n.cfg.Name, topAddr, top, total))
	}
}

// collectConflictVotes asks every member who owns our name and counts the
// answers per address. Members that do not know an owner abstain.
func (n *Node) collectConflictVotes() (map[string]int, error) {
	timeout := max(n.DefaultQueryTimeout(), conflictVoteMinTimeout)
	// An ordinary query under a reserved name (queryFlagInternal routes to
	// the keyring operations): publish hands it to answerConflictQuery.
	qr, err := n.query(queryConflict, []byte(n.cfg.Name), &QueryParams{Timeout: timeout}, 0)
	if err != nil {
		return nil, err
	}
	defer qr.Close()
	others := n.Stats().Alive - 1
	votes, answers := map[string]int{}, 0
	for {
		select {
		case <-n.shutdownCh:
			return nil, fmt.Errorf("node shut down during the vote")
		case r, ok := <-qr.ResponseCh():
			if !ok {
				return votes, nil
			}
			answers++
			var a conflictAnswer
			if err := decodeMessage(r.Payload, &a); err != nil {
				n.dropMessage("conflict answer from "+r.From, err)
			} else if a.Known {
				votes[net.JoinHostPort(net.IP(a.Addr).String(), strconv.Itoa(int(a.Port)))]++
			}
			if answers >= others {
				return votes, nil
			}
		}
	}
}

// answerConflictQuery tells the asker which address this node sees owning
// the name. Like Serf, a node does not vote on its own name.
func (n *Node) answerConflictQuery(q *Query) {
	name := string(q.Payload)
	if name == n.cfg.Name {
		return
	}
	var a conflictAnswer
	if m, ok := n.Snapshot().Get(name); ok && m.Status.AliveOrSuspect() {
		a = conflictAnswer{Known: true, Addr: m.Addr, Port: m.Port}
	}
	if err := q.Respond(encodeBody(&a)); err != nil {
		n.logger.Warn("name conflict answer failed", "name", clip(name), "to", q.SourceNode, "err", err)
	}
}

// fail records why the node stops, shuts it down and reports on Fatal.
func (n *Node) fail(err error) {
	n.logger.Error("shutting down", "err", err)
	n.fatalErr.Store(&err)
	select {
	case n.fatalCh <- err:
	default:
	}
	// Not a Leave: a leave intent under this name would mark the machine
	// that keeps it as leaving. Shutdown waits for the node's goroutines,
	// the vote among them, so it runs on its own.
	go n.Shutdown()
}
