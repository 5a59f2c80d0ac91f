package node

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Suspicion: memberlist (v0.7.0) suspects members but tells nobody. Its
// EventDelegate knows only join, leave and update; suspectNode calls no
// delegate; the State that Members() returns is never updated (nodeState
// shadows it). What a node can observe is:
//
//   - its own prober giving up on a member: after the direct UDP ping, the
//     indirect pings through IndirectChecks peers and the TCP fallback all
//     failed (Lifeguard has by then also counted the peers' nacks against
//     the prober's own health), memberlist logs the line
//     memberlistSuspectFormat and starts its suspicion timer;
//   - a direct probe answered (PingDelegate.NotifyPingComplete), with the
//     round-trip time, so when the probe was sent is known.
//
// Suspicion that reaches a node by gossip is silent, and so is a
// refutation: AliveDelegate.NotifyAlive gets a Node without the
// incarnation, and runs for stale alive messages too (every push/pull
// repeats the alive state of every member), so it cannot tell a refutation
// from old news. shoal therefore gossips suspicion itself, in one message
// (suspicionMsg) with two meanings:
//
//   - "suspect NAME": sent by the node whose prober gave up, so every node
//     (every load balancer) learns within a gossip round, not only the
//     prober;
//   - "alive NAME": sent by a node that got a direct answer from a member
//     it suspected, on a probe sent after the suspicion began (memberlist
//     probes a suspect with the suspicion attached, so this is also when
//     the member refutes in memberlist), and by the suspected node itself
//     when a "suspect" notice about it arrives.
//
// Notices are ordered by the member status Lamport clock, per member, as a
// last-writer-wins register: a node suspects NAME while the newest
// "suspect" notice is newer than the newest "alive" one. A sender has
// witnessed the notices it answers, so an "alive" notice always orders
// after the suspicion it clears, and a late copy of an old "suspect"
// notice is ignored. (The suspected node cannot simply refute when
// memberlist makes it refute: it may never have seen shoal's notice, whose
// Lamport time its refutation must beat.)
//
// A member that fails or leaves takes the normal path (failed, leaving,
// left) and its suspicion ends with it. A suspicion that is neither
// confirmed nor cleared, because an "alive" notice was lost, expires after
// the longest time memberlist itself would keep it (suspicionBound), so a
// healthy member is never drained for good. A member becomes suspect again
// at most once per probe interval, which bounds how often a flapping link
// (or a buggy peer) can make every load balancer re-render.

// memberlistSuspectFormat is the line memberlist's prober logs when it
// starts to suspect a member (state.go, probeNode). A test holds it equal
// to the source of the memberlist version in go.mod.
const memberlistSuspectFormat = "[INFO] memberlist: Suspect %s has failed, no acks received"

// parseSuspectLine returns the member named by a memberlist log line of
// the form memberlistSuspectFormat.
func parseSuspectLine(line string) (string, bool) {
	prefix, suffix, _ := strings.Cut(memberlistSuspectFormat, "%s")
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, suffix) {
		return "", false
	}
	name := line[len(prefix) : len(line)-len(suffix)]
	return name, ValidName(name)
}

// suspicionMsg is a "suspect NAME" (Alive false) or "alive NAME" (Alive
// true) notice about member Node, sent by From at Lamport time LTime.
type suspicionMsg struct {
	LTime LamportTime
	Node  string
	From  string
	Alive bool
}

func (m *suspicionMsg) walk(f fields) {
	uvarintField(f, &m.LTime)
	f.str(&m.Node)
	f.str(&m.From)
	f.boolean(&m.Alive)
}

// suspicion is what a node knows about one member's suspicion.
type suspicion struct {
	// suspectLTime and aliveLTime are the newest notices of each kind.
	suspectLTime, aliveLTime LamportTime
	// from raised the suspicion in force.
	from string
	// since is when this node began to suspect the member (zero: it does
	// not); until is when that suspicion expires.
	since, until time.Time
	// ended is when the last suspicion ended, for the re-suspect limit.
	ended time.Time
}

// suspicionBound is how long a suspicion may last before memberlist has
// declared the member dead: its timeout with no independent confirmation,
// SuspicionMaxTimeoutMult * SuspicionMult * max(1, log10(N)) *
// ProbeInterval, plus one probe interval because this node may learn of
// the suspicion a gossip round before its memberlist does.
func suspicionBound(mc *memberlist.Config, members int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(members))))
	minTimeout := time.Duration(float64(mc.SuspicionMult) * scale * float64(mc.ProbeInterval))
	return time.Duration(max(mc.SuspicionMaxTimeoutMult, 1))*minTimeout + mc.ProbeInterval
}

// applySuspicion records a notice and reports whether it is news that must
// be gossiped on, and whether this node must refute it (a suspicion of
// itself). n.mu must not be held.
func (n *Node) applySuspicion(msg *suspicionMsg, now time.Time) (news, refute bool) {
	n.clock.Witness(msg.LTime)
	n.mu.Lock()
	news, refute, change := n.applySuspicionLocked(msg, now)
	var until time.Time
	if ms := n.members[msg.Node]; ms != nil {
		until = ms.susp.until
	}
	n.mu.Unlock()
	switch change {
	case suspicionBegan:
		n.logger.Warn("member suspected", "member", msg.Node, "by", msg.From, "expires_in", until.Sub(now).Round(time.Millisecond))
		select {
		case n.suspicionRearm <- struct{}{}:
		default:
		}
	case suspicionCleared:
		n.logger.Info("member no longer suspected", "member", msg.Node, "alive_by", msg.From)
	case suspicionLimited:
		n.dropMessage(msgSuspicion.String(), fmt.Errorf("%s suspected again within a probe interval of its last suspicion; not suspected", msg.Node))
	}
	return news, refute
}

// suspicionChange is what a notice did to the member's status.
type suspicionChange uint8

const (
	suspicionNone suspicionChange = iota
	suspicionBegan
	suspicionCleared
	suspicionLimited // it would have begun, but the last one ended too recently
)

func (n *Node) applySuspicionLocked(msg *suspicionMsg, now time.Time) (news, refute bool, change suspicionChange) {
	ms, ok := n.members[msg.Node]
	if !ok {
		// A member this node does not know (yet): nothing to suspect,
		// and nothing is stored, so made-up names cost no memory.
		return false, false, suspicionNone
	}
	s := &ms.susp
	if msg.Alive {
		if msg.LTime <= s.aliveLTime {
			return false, false, suspicionNone
		}
		s.aliveLTime = msg.LTime
		if ms.Status == StatusSuspect && msg.LTime > s.suspectLTime {
			n.endSuspicionLocked(ms, now)
			return true, false, suspicionCleared
		}
		return true, false, suspicionNone
	}
	if msg.LTime <= s.suspectLTime || msg.LTime <= s.aliveLTime {
		return false, false, suspicionNone // known, or older than an "alive" notice
	}
	s.suspectLTime = msg.LTime
	switch {
	case msg.Node == n.cfg.Name:
		return false, true, suspicionNone
	case ms.Status == StatusSuspect:
		// Another prober agrees: keep the timer, pass the notice on.
		return true, false, suspicionNone
	case ms.Status != StatusAlive:
		return false, false, suspicionNone // failed, leaving or left already
	case !s.ended.IsZero() && now.Sub(s.ended) < n.mlConfig.ProbeInterval:
		return true, false, suspicionLimited
	}
	ms.Status = StatusSuspect
	s.from, s.since = msg.From, now
	s.until = now.Add(suspicionBound(n.mlConfig, len(n.members)))
	n.rebuildLocked()
	return true, false, suspicionBegan
}

// endSuspicionLocked makes a suspect member alive again. n.mu must be held.
func (n *Node) endSuspicionLocked(ms *memberState, now time.Time) {
	ms.Status = StatusAlive
	ms.susp.since, ms.susp.until, ms.susp.from = time.Time{}, time.Time{}, ""
	ms.susp.ended = now
	n.rebuildLocked()
}

// resetSuspicionLocked forgets a suspicion in force when the member's
// status changes another way (it failed, left or rejoined). The notice
// times stay, so late copies of old notices remain old. n.mu must be held.
func (ms *memberState) resetSuspicionLocked(now time.Time) {
	if !ms.susp.since.IsZero() {
		ms.susp.since, ms.susp.until, ms.susp.from = time.Time{}, time.Time{}, ""
		ms.susp.ended = now
	}
}

// handleSuspicion handles a notice from gossip; it returns whether to
// gossip it on.
func (n *Node) handleSuspicion(msg *suspicionMsg) bool {
	news, refute := n.applySuspicion(msg, time.Now())
	if refute {
		n.logger.Warn("refuting a suspicion of this node", "by", msg.From, "ltime", msg.LTime)
		n.sendSuspicion(true, n.cfg.Name)
		return false
	}
	return news
}

// sendSuspicion originates a notice about name at a new Lamport time,
// records it and gossips it if it is news.
func (n *Node) sendSuspicion(alive bool, name string) {
	msg := suspicionMsg{LTime: n.clock.Increment(), Node: name, From: n.cfg.Name, Alive: alive}
	if news, _ := n.applySuspicion(&msg, time.Now()); news {
		n.broadcasts.QueueBroadcast(&broadcast{msg: encodeMessage(msgSuspicion, &msg)})
	}
}

// localSuspicion is called from memberlist's logger when this node's
// prober suspects name. It runs inside memberlist (the logger may be
// called under its locks, where gossiping would deadlock), so it only
// hands the name to suspicionLoop; if that is busy, the next failed probe
// logs the line again.
func (n *Node) localSuspicion(name string) {
	select {
	case n.suspicionCh <- name:
	default:
		n.dropMessage("local suspicion", fmt.Errorf("suspicion queue full; %s dropped", name))
	}
}

// handlePingAck runs when a direct probe of name sent at sent was
// answered. If this node suspected name before that probe left, the
// member is alive after all: this node says so to the cluster.
func (n *Node) handlePingAck(name string, sent time.Time) {
	n.mu.Lock()
	ms, ok := n.members[name]
	cleared := ok && ms.Status == StatusSuspect && sent.After(ms.susp.since)
	n.mu.Unlock()
	if cleared {
		n.sendSuspicion(true, name)
	}
}

// suspicionLoop gossips the suspicions of this node's prober and expires
// suspicions that nothing confirmed or cleared.
func (n *Node) suspicionLoop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Stop()
		var expire <-chan time.Time
		if next, ok := n.nextSuspicionExpiry(); ok {
			timer.Reset(time.Until(next))
			expire = timer.C
		}
		select {
		case <-n.shutdownCh:
			return
		case name := <-n.suspicionCh:
			n.suspectLocally(name)
		case <-n.suspicionRearm:
		case now := <-expire:
			n.expireSuspicions(now)
		}
	}
}

// suspectLocally gossips this node's own suspicion of name, unless name
// is already suspect (or not alive): one notice per suspicion, however
// often the prober fails to reach it.
//
// It does not ask Lifeguard's local health whether the prober is the one
// at fault: memberlist sends a nack only ProbeTimeout after the indirect
// ping, which itself leaves ProbeTimeout after the probe, so with the LAN
// timings (500 ms of a 1 s interval) the nacks arrive at the deadline and
// a healthy prober's score rises for a dead member just as a cut-off
// node's does. A node that comes back from a cut may therefore gossip a
// suspicion it raised just before, as memberlist does; the member it names
// hears the notice too and refutes it at once.
func (n *Node) suspectLocally(name string) {
	if name == n.cfg.Name {
		return
	}
	if m, ok := n.Snapshot().Get(name); !ok || m.Status != StatusAlive {
		return
	}
	n.sendSuspicion(false, name)
}

func (n *Node) nextSuspicionExpiry() (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, ms := range n.members {
		if u := ms.susp.until; ms.Status == StatusSuspect && !u.IsZero() && (next.IsZero() || u.Before(next)) {
			next = u
		}
	}
	return next, !next.IsZero()
}

// expireSuspicions ends every suspicion whose time is up at now.
func (n *Node) expireSuspicions(now time.Time) {
	type expired struct {
		name, by string
		after    time.Duration
	}
	var done []expired
	n.mu.Lock()
	for _, ms := range n.members {
		if ms.Status != StatusSuspect || ms.susp.until.After(now) {
			continue
		}
		done = append(done, expired{ms.Name, ms.susp.from, now.Sub(ms.susp.since)})
		n.endSuspicionLocked(ms, now)
	}
	n.mu.Unlock()
	for _, e := range done {
		n.logger.Warn("suspicion expired: the member neither failed nor was seen alive within memberlist's longest suspicion time; alive again",
			"member", e.name, "by", e.by, "after", e.after.Round(time.Millisecond))
	}
}
