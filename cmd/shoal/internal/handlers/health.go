package handlers

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/node"
)

// Health events (node.EventHealth, filter "health", SERF_EVENT=health)
// are shoal's own: Serf has none. They are batched like member events,
// over the same periods: of a batch, each member counts once with its
// newest state, and an instance whose health is the one it was last sent
// with is left out, so a check that flaps within a batch costs at most one
// run and one that flaps back to where it was costs none. A batch runs a
// script once.
//
// Stdin: for each member (sorted by name), one line for the member itself
// and one per instance whose health changed (sorted by ID):
//
//	MEMBER\t*\t*\tHEALTH          the member's node-level health (its node checks, maintenance)
//	MEMBER\tID\tSERVICE\tHEALTH   one instance's effective health
//
// HEALTH is passing, warning, critical or maintenance. "*" is never an
// instance ID or service name. Tabs and newlines in a field are written
// as \t and \n, as in member events.

// healthNodeField marks a member's own line in the ID and SERVICE fields.
const healthNodeField = "*"

// HealthBatch is what a handler script runs for: the members whose health
// changed in one batch. It is a node.Event of type EventHealth.
type HealthBatch struct {
	Events []*node.HealthEvent // one per member, sorted by name
}

func (b *HealthBatch) EventType() node.EventType { return node.EventHealth }
func (b *HealthBatch) String() string {
	names := make([]string, len(b.Events))
	for i, e := range b.Events {
		names[i] = e.Member.Name
	}
	return "health: " + strings.Join(names, ",")
}

// healthStdin writes the lines of events.
func healthStdin(events []*node.HealthEvent) []byte {
	var b bytes.Buffer
	for _, e := range events {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", clean(e.Member.Name), healthNodeField, healthNodeField, e.Member.Health)
		for _, s := range e.Changed {
			id := s.ID
			if id == "" {
				id = s.Name
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", clean(e.Member.Name), clean(id), clean(s.Name), s.Health)
		}
	}
	return b.Bytes()
}

// healthBatch is the batching state of health events, over times handed
// in, like memberBatch.
type healthBatch struct {
	wait debounce.State
	// latest holds, per member, the member as last reported and the
	// instances reported changed in this batch, by ID.
	latest map[string]*pendingHealth
	// sent is the health each member ("name") and instance ("name\x00id")
	// was last sent with; absent means passing, as node counts it.
	sent map[string]node.Health
}

type pendingHealth struct {
	member  node.Member
	changed map[string]node.Service
}

func newHealthBatch(w debounce.Window) *healthBatch {
	return &healthBatch{wait: debounce.State{Window: w},
		latest: map[string]*pendingHealth{}, sent: map[string]node.Health{}}
}

func instanceKey(member, id string) string { return member + "\x00" + id }

// add records e, seen at now.
func (b *healthBatch) add(now time.Time, e *node.HealthEvent) {
	p := b.latest[e.Member.Name]
	if p == nil {
		p = &pendingHealth{changed: map[string]node.Service{}}
		b.latest[e.Member.Name] = p
	}
	p.member = e.Member
	for _, s := range e.Changed {
		p.changed[s.ID] = s
	}
	// An instance reported earlier in the batch takes its newest health.
	for _, s := range e.Member.Services {
		if _, ok := p.changed[s.ID]; ok {
			p.changed[s.ID] = s
		}
	}
	b.wait.Change(now, false)
}

// forget drops what was sent for a reaped member: a name that comes back
// starts afresh, and the map stays as small as the membership.
func (b *healthBatch) forget(name string) {
	for k := range b.sent {
		if k == name || strings.HasPrefix(k, name+"\x00") {
			delete(b.sent, k)
		}
	}
}

// flush returns the batch, nil when nothing differs from what was sent,
// and starts a new one.
func (b *healthBatch) flush() *HealthBatch {
	var out []*node.HealthEvent
	for name, p := range b.latest {
		e := &node.HealthEvent{Member: p.member}
		for id, s := range p.changed {
			if b.sent[instanceKey(name, id)] != s.Health {
				e.Changed = append(e.Changed, s)
				b.sent[instanceKey(name, id)] = s.Health
			}
		}
		if len(e.Changed) == 0 && b.sent[name] == p.member.Health {
			continue
		}
		b.sent[name] = p.member.Health
		slices.SortFunc(e.Changed, func(x, y node.Service) int { return strings.Compare(x.ID, y.ID) })
		out = append(out, e)
	}
	clear(b.latest)
	b.wait.Done()
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(x, y *node.HealthEvent) int { return strings.Compare(x.Member.Name, y.Member.Name) })
	return &HealthBatch{Events: out}
}
