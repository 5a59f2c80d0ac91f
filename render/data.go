package render

import (
	"cmp"
	"iter"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/node"
)

// Data is what a template sees as its root value ("."). It is built from one
// *node.Snapshot, so a render never mixes two views of the cluster, and every
// slice in it is sorted, so the same cluster always renders the same bytes.
//
// Members whose names, tags or services would not be safe inside a config
// file are left out of Data entirely (see Exclusion); templates never see
// them.
type Data struct {
	// Self is the local node. It is the zero Member if the local node was
	// excluded or is not in the snapshot.
	Self Member
	// Members holds every member of every status, sorted by name.
	Members []Member
	// Services maps a service name to its routable instances (health
	// passing or warning) on alive and suspect members, sorted by node
	// name, then ID. Reading it directly does not count towards
	// min_backends; the service and services functions do, and they also
	// give the instances of other health ("web|any").
	Services map[string][]Instance
	// Vars are the template's own settings from the agent config (trusted,
	// local values, not checked like gossip values are).
	Vars map[string]string

	// all maps a service name to every instance on alive and suspect
	// members, whatever its health; Services holds copies of its routable
	// ones.
	all map[string][]Instance
	// services and allServices are Services and all as lists sorted by
	// name, for the services func.
	services, allServices []ServiceGroup
	// instances is the total number of instances, to size the used set.
	instances int
	// excluded lists the members left out, in snapshot (name) order.
	excluded []Exclusion
}

// Member is one cluster member as a template sees it.
type Member struct {
	Name string
	// Addr is the member's IP address as text ("10.0.0.5", "fd00::5").
	Addr   string
	Port   uint16
	Status string
	// Health is the worst of the member's node-level checks, maintenance
	// included: "passing", "warning", "critical" or "maintenance". A
	// critical or maintenance node takes all its instances out.
	Health string
	// Checks are the member's node-level checks.
	Checks []Check
	Tags   map[string]string
	// Services are the member's service instances, whatever their health,
	// sorted by service name, then ID.
	Services []Instance
}

// Instance is one service instance offered by one member.
type Instance struct {
	Service string
	// ID is unique among the member's instances; it is the service name
	// unless the member runs several instances of the service.
	ID   string
	Node string
	// Address is the instance's own address as text, or its member's
	// when it has none.
	Address string
	Port    uint16
	// HostPort is Address:Port, with brackets around IPv6 addresses, ready
	// for a server or upstream line.
	HostPort string
	// ServerName names the instance uniquely among a service's
	// instances, in the characters an HAProxy server name allows: the
	// node name, followed by ":" and the ID when the ID is not the
	// service name ("web1", "web1:web-2").
	ServerName string
	// Weight is the service weight clamped to 1..256: 0 (unset) becomes 1,
	// so the value is valid for both HAProxy and nginx.
	Weight int
	// Status is the instance's health: "passing", "warning", "critical"
	// or "maintenance", the worst of its own checks, its member's
	// node-level checks and maintenance. Passing and warning instances
	// are routable; the service and services functions give only those
	// unless asked otherwise.
	Status string
	// NodeStatus is the member's status: "alive" or "suspect" (memberlist
	// suspects it; it fails within seconds unless it refutes).
	NodeStatus string
	// Drain is true when the load balancer should send this instance no
	// new connections, while its sessions go on: its member is suspect,
	// the template drains suspects (drain_on_suspect, the default), and
	// another routable instance of the service is not suspect. When every
	// routable instance is suspect the fault is most likely this node's
	// own network, and draining them all would turn a maybe into a
	// certain outage, so none is drained. The built-in HAProxy template
	// writes weight 0.
	Drain bool
	// Tags are the service's own tags ("v2"), sorted.
	Tags []string
	// Meta is the instance's key/value metadata.
	Meta map[string]string
	// Checks explain Status: the member's node-level checks, then the
	// instance's own (maintenance included).
	Checks []Check
	// NodeTags are the member's tags (zone, role, ...).
	NodeTags map[string]string

	id     int // index into the render's used set, for min_backends
	health node.Health
}

// Check is one health check's state as it was gossiped. Its ID, Name and
// Note are free text from another machine: every character outside the
// set tag values allow becomes "_" (see safeText), so they can be shown
// but never end a config line.
type Check struct {
	ID, Name string
	// Status is "passing", "warning", "critical" or "maintenance".
	Status string
	// Note is a short summary: "HTTP 503" reads "HTTP_503".
	Note string
}

// HasTag reports whether the instance's service carries tag t.
func (i Instance) HasTag(t string) bool {
	return slices.Contains(i.Tags, t)
}

// ServiceGroup is one service and its instances, as returned by the
// services template function.
type ServiceGroup struct {
	Name string
	// Port is the lowest port among the instances: a stable default for a
	// frontend that fronts them all.
	Port      uint16
	Instances []Instance
}

// Exclusion records a member left out of the render data and why.
type Exclusion struct {
	Member string
	Reason string
}

// NewData builds the template data from snap, with suspect instances
// drained (see Instance.Drain). It never fails: members with unsafe values
// are left out and listed by Excluded.
func NewData(snap *node.Snapshot) *Data { return newData(snap, true) }

// newData builds the data; drainSuspects false leaves every Drain false
// (drain_on_suspect = false).
func newData(snap *node.Snapshot, drainSuspects bool) *Data {
	d := &Data{Services: map[string][]Instance{}, all: map[string][]Instance{}}
	if snap == nil {
		return d
	}
	d.Members = make([]Member, 0, len(snap.Members))
	for i := range snap.Members {
		m := &snap.Members[i]
		if reason := checkMember(m); reason != "" {
			d.excluded = append(d.excluded, Exclusion{Member: quoteUnsafe(m.Name), Reason: reason})
			continue
		}
		tm := d.member(m)
		d.Members = append(d.Members, tm)
		if m.Name == snap.Self {
			d.Self = tm
		}
		if !m.Status.AliveOrSuspect() {
			continue
		}
		for _, in := range tm.Services {
			d.all[in.Service] = append(d.all[in.Service], in)
		}
	}
	// snap.Members is sorted by name, so every instance list already is;
	// sort anyway in case a caller built a snapshot by hand.
	sort.SliceStable(d.Members, func(i, j int) bool { return d.Members[i].Name < d.Members[j].Name })
	d.allServices = make([]ServiceGroup, 0, len(d.all))
	for name, ins := range d.all {
		sort.SliceStable(ins, func(i, j int) bool {
			return ins[i].Node < ins[j].Node || ins[i].Node == ins[j].Node && ins[i].ID < ins[j].ID
		})
		markDrain(ins, drainSuspects)
		d.allServices = append(d.allServices, group(name, ins))
	}
	sort.Slice(d.allServices, func(i, j int) bool { return d.allServices[i].Name < d.allServices[j].Name })
	// Number the instances so a render can count which it used, then
	// keep the routable ones, numbered alike, for the default view.
	n := 0
	for _, g := range d.allServices {
		for k := range g.Instances {
			g.Instances[k].id = n
			n++
		}
	}
	d.instances = n
	d.services = filterGroups(d.allServices, routable)
	for _, g := range d.services {
		d.Services[g.Name] = g.Instances
	}
	return d
}

// markDrain sets Drain on the suspect instances of one service when
// drainSuspects and a routable instance of an alive member serves.
func markDrain(ins []Instance, drainSuspects bool) {
	serving := false
	for _, in := range ins {
		serving = serving || in.NodeStatus != suspectStatus && in.health.Routable(false)
	}
	for k := range ins {
		ins[k].Drain = drainSuspects && serving && ins[k].NodeStatus == suspectStatus
	}
}

// group returns the ServiceGroup of instances ins, which is not empty.
func group(name string, ins []Instance) ServiceGroup {
	g := ServiceGroup{Name: name, Instances: ins, Port: ins[0].Port}
	for _, in := range ins {
		g.Port = min(g.Port, in.Port)
	}
	return g
}

// Excluded returns the members left out of the data, sorted by name.
func (d *Data) Excluded() []Exclusion { return d.excluded }

func (d *Data) member(m *node.Member) Member {
	addr := m.Addr.String()
	tm := Member{
		Name:   m.Name,
		Addr:   addr,
		Port:   m.Port,
		Status: m.Status.String(),
		Health: m.Health.String(),
		Checks: checks(m.Checks, nil),
		Tags:   m.Tags,
	}
	if tm.Tags == nil {
		tm.Tags = map[string]string{}
	}
	if len(m.Services) > 0 {
		tm.Services = make([]Instance, 0, len(m.Services))
	}
	for _, s := range m.Services {
		tm.Services = append(tm.Services, instance(m, &tm, s))
	}
	sort.SliceStable(tm.Services, func(i, j int) bool {
		a, b := tm.Services[i], tm.Services[j]
		return a.Service < b.Service || a.Service == b.Service && a.ID < b.ID
	})
	return tm
}

// instance returns service s of member m (tm as the template sees it).
func instance(m *node.Member, tm *Member, s node.Service) Instance {
	tags := append([]string(nil), s.Tags...)
	sort.Strings(tags)
	id := cmp.Or(s.ID, s.Name) // the owner defaults it; do so for one that did not
	server := m.Name
	if id != s.Name {
		server += ":" + id
	}
	addr := tm.Addr
	if own := ownAddr(s.Address, m.Addr); own != nil {
		addr = own.String()
	}
	meta := s.Meta
	if meta == nil {
		meta = noMeta
	}
	// The owner folds node checks into s.Health; taking the worst again
	// keeps a critical node's instances out even if it did not.
	health := node.Worst(s.Health, m.Health)
	return Instance{
		Service:    s.Name,
		ID:         id,
		Node:       m.Name,
		Address:    addr,
		Port:       s.Port,
		HostPort:   net.JoinHostPort(addr, strconv.Itoa(int(s.Port))),
		ServerName: server,
		Weight:     clampWeight(s.Weight),
		Status:     health.String(),
		NodeStatus: tm.Status,
		Tags:       tags,
		Meta:       meta,
		Checks:     checks(m.Checks, s.Checks),
		NodeTags:   tm.Tags,
		health:     health,
	}
}

// noMeta is the Meta of every instance without any. Sharing it is safe:
// a template cannot write to a map[string]string (sprig's set and merge
// take map[string]any), as it cannot to the snapshot's Tags it is given.
var noMeta = map[string]string{}

// ownAddr returns an instance's own address, or nil when it has none
// that differs from its member's: unset, unspecified (0.0.0.0 binds every
// address, it names none), not an IP (a length other than 4 or 16), or
// the member's own. Package dns applies the same rule.
func ownAddr(addr, memberAddr net.IP) net.IP {
	if (len(addr) != net.IPv4len && len(addr) != net.IPv6len) || addr.IsUnspecified() || addr.Equal(memberAddr) {
		return nil
	}
	return addr
}

// checks returns node-level checks, then an instance's own, as templates
// see them.
func checks(nodeChecks, own []node.CheckState) []Check {
	if len(nodeChecks)+len(own) == 0 {
		return nil
	}
	out := make([]Check, 0, len(nodeChecks)+len(own))
	for _, c := range slices.Concat(nodeChecks, own) {
		out = append(out, Check{ID: safeText(c.ID), Name: safeText(c.Name), Status: c.Status.String(), Note: safeText(c.Note)})
	}
	return out
}

var suspectStatus = node.StatusSuspect.String()

// healthSet is a set of health states, one bit each, that the service
// and services functions select instances by.
type healthSet uint8

const (
	// routable instances take traffic: the default selection.
	routable = healthSet(1<<node.HealthPassing | 1<<node.HealthWarning)
	// anyHealth selects every instance.
	anyHealth = healthSet(1<<(node.HealthMaintenance+1) - 1)
)

func (hs healthSet) has(h node.Health) bool { return hs&(1<<h) != 0 }

// filterInstances returns the instances whose health is in keep: ins
// itself when they all are (the common case, a healthy service), else a
// new slice.
func filterInstances(ins []Instance, keep healthSet) []Instance {
	n := 0
	for _, in := range ins {
		if keep.has(in.health) {
			n++
		}
	}
	if n == len(ins) {
		return ins
	}
	out := make([]Instance, 0, n)
	for _, in := range ins {
		if keep.has(in.health) {
			out = append(out, in)
		}
	}
	return out
}

// filterGroups returns groups with only the instances whose health is in
// keep, leaving out those with none.
func filterGroups(groups []ServiceGroup, keep healthSet) []ServiceGroup {
	if keep == anyHealth {
		return groups
	}
	out := make([]ServiceGroup, 0, len(groups))
	for _, g := range groups {
		if ins := filterInstances(g.Instances, keep); len(ins) > 0 {
			out = append(out, group(g.Name, ins))
		}
	}
	return out
}

func clampWeight(w int) int {
	switch {
	case w < 1:
		return 1
	case w > 256:
		return 256
	}
	return w
}

// servingMembers yields each member of prev that offered instances (alive
// or suspect, with services) and what next holds for it (nil: nothing).
// healthLost and urgentChange both compare from this set; a nil snapshot
// yields nothing.
func servingMembers(prev, next *node.Snapshot) iter.Seq2[*node.Member, *node.Member] {
	return func(yield func(p, n *node.Member) bool) {
		if prev == nil || next == nil {
			return
		}
		for i := range prev.Members {
			p := &prev.Members[i]
			if !p.Status.AliveOrSuspect() || len(p.Services) == 0 {
				continue
			}
			// next.Get's search, yielding into next rather than a copy.
			var n *node.Member
			if j, ok := slices.BinarySearchFunc(next.Members, p.Name, func(m node.Member, name string) int {
				return strings.Compare(m.Name, name)
			}); ok {
				n = &next.Members[j]
			}
			if !yield(p, n) {
				return
			}
		}
	}
}

// healthLost reports whether an instance that was routable in prev (on an
// alive or suspect member) is still offered in next but no longer
// routable: its check turned critical, it or its node went into
// maintenance, or its node check failed. Such a change should render
// without waiting for quiet, as a failed member does: a load balancer
// that waits keeps sending traffic to an instance that said it fails.
// (A vanished instance or member is urgentChange's to report.)
func healthLost(prev, next *node.Snapshot) bool {
	for p, n := range servingMembers(prev, next) {
		if n == nil {
			continue
		}
		for _, s := range p.Services {
			if !node.Worst(s.Health, p.Health).Routable(false) {
				continue
			}
			for _, ns := range n.Services {
				if cmp.Or(ns.ID, ns.Name) == cmp.Or(s.ID, s.Name) && !node.Worst(ns.Health, n.Health).Routable(false) {
					return true
				}
			}
		}
	}
	return false
}
