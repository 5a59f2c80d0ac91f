package render

import (
	"net"
	"slices"
	"sort"
	"strconv"

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
	// Services maps a service name to its instances on alive and suspect
	// members, sorted by node name. Reading it directly does not count
	// towards min_backends; the service and services functions do.
	Services map[string][]Instance
	// Vars are the template's own settings from the agent config (trusted,
	// local values, not checked like gossip values are).
	Vars map[string]string

	// services is Services as a list sorted by name, for the services func.
	services []ServiceGroup
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
	Tags   map[string]string
	// Services are the member's services as instances, sorted by name.
	Services []Instance
}

// Instance is one service offered by one member.
type Instance struct {
	Service string
	Node    string
	// Address is the member's IP address as text.
	Address string
	Port    uint16
	// HostPort is Address:Port, with brackets around IPv6 addresses, ready
	// for a server or upstream line.
	HostPort string
	// Weight is the service weight clamped to 1..256: 0 (unset) becomes 1,
	// so the value is valid for both HAProxy and nginx.
	Weight int
	// Status is the member's: "alive" or "suspect" (memberlist suspects
	// it; it fails within seconds unless it refutes).
	Status string
	// Drain is true when the load balancer should send this instance no
	// new connections, while its sessions go on: its member is suspect,
	// the template drains suspects (drain_on_suspect, the default), and
	// another instance of the service is not suspect. When every instance
	// is suspect the fault is most likely this node's own network, and
	// draining them all would turn a maybe into a certain outage, so none
	// is drained. The built-in HAProxy template writes weight 0.
	Drain bool
	// Tags are the service's own tags ("v2"), sorted.
	Tags []string
	// NodeTags are the member's tags (zone, role, ...).
	NodeTags map[string]string

	id int // index into the render's used set, for min_backends
}

// HasTag reports whether the instance's service carries tag t.
func (i Instance) HasTag(t string) bool {
	return slices.Contains(i.Tags, t)
}

// ServiceGroup is one service and its alive instances, as returned by the
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
	d := &Data{Services: map[string][]Instance{}}
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
			d.Services[in.Service] = append(d.Services[in.Service], in)
		}
	}
	// snap.Members is sorted by name, so every instance list already is;
	// sort anyway in case a caller built a snapshot by hand.
	sort.SliceStable(d.Members, func(i, j int) bool { return d.Members[i].Name < d.Members[j].Name })
	d.services = make([]ServiceGroup, 0, len(d.Services))
	for name, ins := range d.Services {
		sort.SliceStable(ins, func(i, j int) bool { return ins[i].Node < ins[j].Node })
		g := ServiceGroup{Name: name, Instances: ins, Port: ins[0].Port}
		serving := false
		for _, in := range ins {
			if in.Port < g.Port {
				g.Port = in.Port
			}
			serving = serving || in.Status != suspectStatus
		}
		if drainSuspects && serving {
			for k := range ins {
				ins[k].Drain = ins[k].Status == suspectStatus
			}
		}
		d.services = append(d.services, g)
	}
	sort.Slice(d.services, func(i, j int) bool { return d.services[i].Name < d.services[j].Name })
	// Number the instances so a render can count which it used.
	n := 0
	for _, g := range d.services {
		for k := range g.Instances {
			g.Instances[k].id = n
			n++
		}
	}
	d.instances = n
	return d
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
		Tags:   m.Tags,
	}
	if tm.Tags == nil {
		tm.Tags = map[string]string{}
	}
	if len(m.Services) > 0 {
		tm.Services = make([]Instance, 0, len(m.Services))
	}
	for _, s := range m.Services {
		tags := append([]string(nil), s.Tags...)
		sort.Strings(tags)
		tm.Services = append(tm.Services, Instance{
			Service:  s.Name,
			Node:     m.Name,
			Address:  addr,
			Port:     s.Port,
			HostPort: net.JoinHostPort(addr, strconv.Itoa(int(s.Port))),
			Weight:   clampWeight(s.Weight),
			Status:   tm.Status,
			Tags:     tags,
			NodeTags: tm.Tags,
		})
	}
	sort.SliceStable(tm.Services, func(i, j int) bool { return tm.Services[i].Service < tm.Services[j].Service })
	return tm
}

var suspectStatus = node.StatusSuspect.String()

func clampWeight(w int) int {
	switch {
	case w < 1:
		return 1
	case w > 256:
		return 256
	}
	return w
}
