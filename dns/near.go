package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// Near sorting (Config.NearSort): A, AAAA and SRV answers come nearest
// first, by the round trip the answering agent estimates from network
// coordinates, instead of shuffled. It is a server setting rather than
// per query: DNS has no query string, and any extra label in the name
// would collide with <tag>.<service>.service names, since a tag may be any
// label. A client asks its local agent, so "near the agent" is near the
// client.

// Coordinates is what near sorting needs of the view; *node.Node has it.
type Coordinates interface {
	Name() string
	CachedCoordinate(name string) (*node.Coordinate, bool)
}

// nearSorter orders records by estimated round trip from this agent.
type nearSorter struct {
	view   View
	coords Coordinates
	// byAddr maps member addresses to names, rebuilt when the snapshot
	// changes.
	byAddr atomic.Pointer[addrIndex]
}

type addrIndex struct {
	snap  *node.Snapshot
	names map[netip.Addr]string
}

// newNearSorter returns nil when the view has no coordinates to sort by.
func newNearSorter(view View) *nearSorter {
	c, ok := view.(Coordinates)
	if !ok {
		return nil
	}
	return &nearSorter{view: view, coords: c}
}

func (s *nearSorter) memberByAddr(ip netip.Addr) (string, bool) {
	snap := s.view.Snapshot()
	idx := s.byAddr.Load()
	if idx == nil || idx.snap != snap {
		idx = &addrIndex{snap: snap, names: make(map[netip.Addr]string, len(snap.Members))}
		for _, m := range snap.Members {
			if a, ok := netip.AddrFromSlice(m.Addr); ok {
				idx.names[a.Unmap()] = m.Name
			}
		}
		// An instance at its own address is as near as its member; a
		// member's own address wins over another member's instance.
		for _, m := range snap.Members {
			for _, svc := range m.Services {
				if a, ok := netip.AddrFromSlice(ownAddr(svc.Address, m.Addr)); ok {
					if _, taken := idx.names[a.Unmap()]; !taken {
						idx.names[a.Unmap()] = m.Name
					}
				}
			}
		}
		s.byAddr.Store(idx)
	}
	name, ok := idx.names[ip.Unmap()]
	return name, ok
}

// memberOf names the member a record points at: the owner of an A or AAAA
// record's address (a member's or one of its instances'), or the node of
// an SRV target "<node>.node.<domain>" or "<hex>.addr.<domain>".
func (s *nearSorter) memberOf(rr mdns.RR) (string, bool) {
	switch r := rr.(type) {
	case *mdns.A:
		a, ok := netip.AddrFromSlice(r.A)
		if !ok {
			return "", false
		}
		return s.memberByAddr(a)
	case *mdns.AAAA:
		a, ok := netip.AddrFromSlice(r.AAAA)
		if !ok {
			return "", false
		}
		return s.memberByAddr(a)
	case *mdns.SRV:
		if rr, ok := addrTarget(r.Target); ok {
			return s.memberOf(rr) // an instance at its own address
		}
		i := strings.LastIndex(r.Target, ".node.")
		if i <= 0 {
			return "", false
		}
		return r.Target[:i], true
	}
	return "", false
}

// unknownRTT sorts records without an estimate after all others.
const unknownRTT = time.Duration(1<<63 - 1)

// sort orders rrs nearest first. It is stable, so records of equal or
// unknown distance keep the shuffled order they came in.
func (s *nearSorter) sort(rrs []mdns.RR) {
	if len(rrs) < 2 {
		return
	}
	self, ok := s.coords.CachedCoordinate(s.coords.Name())
	if !ok {
		return
	}
	type keyed struct {
		rtt time.Duration
		rr  mdns.RR
	}
	keys := make([]keyed, len(rrs))
	for i, rr := range rrs {
		keys[i] = keyed{rtt: unknownRTT, rr: rr}
		name, ok := s.memberOf(rr)
		if !ok {
			continue
		}
		if c, ok := s.coords.CachedCoordinate(name); ok {
			if rtt, err := node.EstimateRTT(self, c); err == nil {
				keys[i].rtt = rtt
			}
		}
	}
	slices.SortStableFunc(keys, func(a, b keyed) int { return cmp.Compare(a.rtt, b.rtt) })
	for i := range keys {
		rrs[i] = keys[i].rr
	}
}

// fillAnswers is fill, nearest first when near sorting is on (the
// setting, live on reload, and a view with coordinates): limit, the cap on
// A/AAAA answers, then keeps the nearest instances rather than a random
// subset.
func (h *handler) fillAnswers(resp *mdns.Msg, set *rrset, qtype uint16, limit int, nearSort bool) {
	if !nearSort || h.near == nil || (qtype != mdns.TypeA && qtype != mdns.TypeAAAA && qtype != mdns.TypeSRV) {
		fill(resp, set, qtype, limit)
		return
	}
	start := len(resp.Answer)
	fill(resp, set, qtype, 0)
	h.near.sort(resp.Answer[start:])
	if limit > 0 && qtype != mdns.TypeSRV && len(resp.Answer)-start > limit {
		resp.Answer = resp.Answer[:start+limit]
	}
}
