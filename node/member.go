package node

import (
	"net"
	"slices"
	"sort"
)

// Status is a member's state as this node sees it.
type Status uint8

const (
	StatusNone Status = iota
	// StatusAlive members answer probes and are served by DNS and rendering.
	StatusAlive
	// StatusLeaving members announced a graceful leave that has not completed.
	StatusLeaving
	// StatusLeft members left gracefully; they are kept as tombstones.
	StatusLeft
	// StatusFailed members stopped answering without leaving; they are
	// retried until the reconnect timeout, then reaped.
	StatusFailed
	// StatusSuspect members are alive members that a probe could not
	// reach: memberlist will declare them failed unless they refute in
	// time. Consumers decide what suspicion means to them (the HAProxy
	// template drains them; DNS service answers leave them out). See
	// suspicion.go. It comes last so the older values keep their numbers.
	StatusSuspect
)

func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	case StatusSuspect:
		return "suspect"
	default:
		return "none"
	}
}

// ParseStatus is the inverse of Status.String.
func ParseStatus(s string) (Status, bool) {
	for st := StatusAlive; st <= StatusSuspect; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return StatusNone, false
}

// AliveOrSuspect reports whether a member with this status is still in
// the cluster as memberlist sees it: alive, or suspected but neither
// failed nor announced a leave.
func (s Status) AliveOrSuspect() bool { return s == StatusAlive || s == StatusSuspect }

// Service is one service instance that a member offers. A member may run
// several instances of one service (different IDs and ports).
type Service struct {
	// ID is unique among the member's instances; it defaults to Name.
	ID   string
	Name string
	// Address is the instance's own address; nil means the member's.
	Address net.IP
	Port    uint16
	Tags    []string
	Weight  int
	// Meta is free-form key/value data about the instance.
	Meta map[string]string
	// Health is the instance's effective health as its owner computed
	// it: the worst of its own checks, the member's node-level checks and
	// maintenance (see Worst).
	Health Health
	// Checks are the instance's own checks, maintenance included.
	Checks []CheckState
}

// HasTag reports whether the service carries tag t.
func (s Service) HasTag(t string) bool {
	return slices.Contains(s.Tags, t)
}

// Member is one node of the cluster. A Member taken from a Snapshot is
// shared and must be treated as read-only.
type Member struct {
	Name string
	Addr net.IP
	Port uint16
	// Tags are the user tags (node meta).
	Tags map[string]string
	// Services are the member's instances from its catalog record,
	// sorted by name, then ID.
	Services []Service
	Status   Status
	// Checks are the member's node-level checks, maintenance included;
	// Health is their worst. A critical node check takes every service
	// of the member out (the owner folds it into each Service.Health).
	Checks []CheckState
	Health Health

	ProtocolMin, ProtocolMax, ProtocolCur uint8
	DelegateMin, DelegateMax, DelegateCur uint8
}

// Role is the Serf-compatible role: the value of the "role" tag.
func (m Member) Role() string { return m.Tags["role"] }

// Service returns the member's first instance (by ID) of the service
// called name; a member may run several.
func (m Member) Service(name string) (Service, bool) {
	for _, s := range m.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Snapshot is an immutable, point-in-time view of the cluster. Members are
// sorted by name and include every status; most consumers want Alive().
type Snapshot struct {
	// Self is the local node's name.
	Self string
	// Members, sorted by name.
	Members []Member
	// Version increases with every change this node observes.
	Version uint64
}

// Get returns the member called name.
func (s *Snapshot) Get(name string) (Member, bool) {
	i := sort.Search(len(s.Members), func(i int) bool { return s.Members[i].Name >= name })
	if i < len(s.Members) && s.Members[i].Name == name {
		return s.Members[i], true
	}
	return Member{}, false
}

// Local returns the local node's own entry.
func (s *Snapshot) Local() Member {
	m, _ := s.Get(s.Self)
	return m
}

// Alive returns the alive members, sorted by name. Suspect members are
// not among them.
func (s *Snapshot) Alive() []Member {
	out := make([]Member, 0, len(s.Members))
	for _, m := range s.Members {
		if m.Status == StatusAlive {
			out = append(out, m)
		}
	}
	return out
}
