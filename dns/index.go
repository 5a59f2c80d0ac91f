package dns

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// rrset holds every record of one owner name. Sets are built once per
// membership change and then shared, read-only, by every query; a response
// copies the slice it serves, never the records.
type rrset struct {
	a, aaaa, txt, srv, ptr, ns, soa []mdns.RR
	// extra holds the addresses of the SRV or NS targets, for the
	// additional section.
	extra []mdns.RR
	// wire holds the A, AAAA and SRV records encoded for UDP responses
	// (wire.go); nil when there are none.
	wire *wireSet
}

// index is an immutable view of one membership snapshot as DNS records,
// keyed by lowercase owner name. A name present with an empty rrset exists
// (an empty non-terminal such as "service.shoal.") and answers NODATA
// rather than NXDOMAIN (RFC 8020).
type index struct {
	names map[string]*rrset
	// soa and altSOA, the SOA records of the domain and the alt domain,
	// go in the authority section of negative answers.
	soa, altSOA mdns.RR
	// version is the snapshot version the index was built from.
	version uint64
	// set is the config the index was built with and the handler answers
	// with.
	set *settings
}

// soaOf returns the SOA record of zone, the domain or the alt domain.
func (idx *index) soaOf(zone string) mdns.RR {
	if zone == idx.set.altDomain && zone != "" {
		return idx.altSOA
	}
	return idx.soa
}

// indexBuilder turns a snapshot into an index.
type indexBuilder struct {
	cfg    Config
	domain string // lowercase, fully qualified
	logger *slog.Logger
	names  map[string]*rrset
}

// service instances grouped by the owner names that answer for them.
type instance struct {
	target  string // <node>.node.<domain>
	addr    net.IP
	svc     node.Service
	suspect bool // its member is suspect
}

// buildIndex returns the index of snap under set's domain and, when set
// has one, its alt domain: the same records built a second time with the
// alt domain's names, so answers name the domain asked and the UDP fast
// path serves both unchanged. Reverse names point into the domain.
func buildIndex(snap *node.Snapshot, set *settings, logger *slog.Logger) *index {
	names, soa := buildZone(snap, set, set.domain, logger)
	idx := &index{names: names, soa: soa, version: snap.Version, set: set}
	if set.altDomain != "" {
		alt, altSOA := buildZone(snap, set, set.altDomain, logger)
		for name, rs := range alt {
			if mdns.IsSubDomain(set.altDomain, name) {
				names[name] = rs
			}
		}
		idx.altSOA = altSOA
	}
	return idx
}

// buildZone returns the records of snap under domain, keyed by lowercase
// owner name, and the domain's SOA record.
func buildZone(snap *node.Snapshot, set *settings, domain string, logger *slog.Logger) (map[string]*rrset, mdns.RR) {
	b := &indexBuilder{
		cfg:    set.Config,
		domain: domain,
		logger: logger,
		names:  make(map[string]*rrset),
	}
	b.set(b.domain)
	b.set("node." + b.domain)
	b.set("service." + b.domain)
	b.set(addrLabel + b.domain) // the parent of the .addr. names (addr.go)

	groups := make(map[string][]instance)
	var owners []string // group keys in first-seen order, so builds are deterministic
	addInstance := func(owner string, in instance) {
		if _, ok := groups[owner]; !ok {
			owners = append(owners, owner)
		}
		groups[owner] = append(groups[owner], in)
	}

	for _, m := range snap.Members {
		if !m.Status.AliveOrSuspect() {
			continue // failed, leaving and left members are never answered
		}
		target, ok := b.fqdn(m.Name, "node")
		if !ok {
			b.logger.Debug("dns: member name is not a valid DNS label, not served", "member", m.Name)
			continue
		}
		b.addNode(target, m)
		for _, s := range m.Services {
			in, ok := b.serviceInstance(m, s, target)
			if !ok {
				continue
			}
			name := strings.ToLower(s.Name)
			for _, owner := range []string{name, "_" + name + "._tcp"} {
				if fq, ok := b.fqdn(owner, "service"); ok {
					addInstance(fq, in)
				}
			}
			for _, tag := range s.Tags {
				tag = strings.ToLower(tag)
				for _, owner := range []string{tag + "." + name, "_" + name + "._" + tag} {
					if fq, ok := b.fqdn(owner, "service"); ok {
						addInstance(fq, in)
					}
				}
			}
		}
	}
	for _, owner := range owners {
		b.addService(owner, withoutSuspects(groups[owner]))
	}
	soa := b.addApex(snap)
	for _, s := range b.names {
		s.wire = encodeWire(s)
	}
	return b.names, soa
}

// fqdn returns "<label>.<kind>.<domain>" in lowercase, and false when the
// result is not a valid domain name (a member name with a 64-byte label,
// say) and must not be served.
func (b *indexBuilder) fqdn(label, kind string) (string, bool) {
	name := strings.ToLower(label) + "." + kind + "." + b.domain
	if _, ok := mdns.IsDomainName(name); !ok || len(name) > 254 || label == "" {
		return "", false
	}
	return name, true
}

// set returns the rrset of name, creating it and the empty non-terminals
// between it and the domain apex.
func (b *indexBuilder) set(name string) *rrset {
	if s, ok := b.names[name]; ok {
		return s
	}
	s := &rrset{}
	b.names[name] = s
	if mdns.IsSubDomain(b.domain, name) {
		for off, end := mdns.NextLabel(name, 0); !end; off, end = mdns.NextLabel(name, off) {
			parent := name[off:]
			if len(parent) < len(b.domain) {
				break
			}
			if _, ok := b.names[parent]; !ok {
				b.names[parent] = &rrset{}
			}
		}
	}
	return s
}

// serviceInstance returns the instance s of member m as service names
// answer it, and false when it takes no traffic: its health, the worst of
// its own and its member's (the owner folds node checks into s.Health;
// taking the worst again guards against an owner that did not), is
// critical or maintenance, or warning under only_passing. Names of a
// service none of whose instances is routable do not exist (NXDOMAIN, as
// Consul answers), like names of a service offered only by failed members.
//
// An instance with an address of its own (other than its member's) is
// served at that address: its SRV target is the .addr. name that spells
// it, as Consul does, and A/AAAA answers give it.
func (b *indexBuilder) serviceInstance(m node.Member, s node.Service, nodeTarget string) (instance, bool) {
	if !node.Worst(s.Health, m.Health).Routable(b.cfg.OnlyPassing) {
		return instance{}, false
	}
	in := instance{target: nodeTarget, addr: m.Addr, svc: s, suspect: m.Status == node.StatusSuspect}
	if own := ownAddr(s.Address, m.Addr); own != nil {
		in.addr = own
		in.target = addrName(own, b.domain)
	}
	return in, true
}

// addNode adds the address, TXT and PTR records of an alive or suspect
// member.
func (b *indexBuilder) addNode(owner string, m node.Member) {
	ttl := ttlSeconds(b.cfg.NodeTTL)
	s := b.set(owner)
	if rr := addrRR(owner, m.Addr, ttl); rr != nil {
		s.add(rr)
		if rev, err := mdns.ReverseAddr(m.Addr.String()); err == nil {
			ptr := b.set(rev)
			ptr.ptr = append(ptr.ptr, &mdns.PTR{Hdr: header(rev, mdns.TypePTR, ttl), Ptr: owner})
		}
	}
	if txt := append(tagStrings(m.Tags), maintenanceStrings(m)...); len(txt) > 0 {
		s.txt = append(s.txt, &mdns.TXT{Hdr: header(owner, mdns.TypeTXT, ttl), Txt: txt})
	}
}

// withoutSuspects drops the instances of suspect members from a service
// answer, unless that would leave it empty.
//
// A suspect member is most often a dead one whose failure memberlist has
// not declared yet (its prober, k indirect probes and a TCP attempt all
// went unanswered), and a client handed its address fails to connect for
// as long as it caches the answer. Leaving it out costs, on a false
// suspicion, one instance's share of capacity until it refutes, usually
// within a probe round. With the default TTL of 0 every connection asks
// again, so both costs last only as long as the suspicion; with a TTL,
// the failed connections are the worse of the two, so suspects are left
// out as the HAProxy template drains them. Consul answers until a member
// has failed; shoal does not wait for that. When every instance is suspect
// the most likely fault is this node's own network, and an answer that may
// fail beats one that surely does: they are all answered. Health comes
// first: instances is the routable ones (serviceInstance), so a healthy
// instance of an alive member is preferred, then healthy suspect ones;
// a critical instance is never answered, even when every instance is
// critical, since its own check says it fails. Node names
// (<node>.node) keep answering suspect members: they name one machine,
// whose address has not changed.
func withoutSuspects(instances []instance) []instance {
	kept := make([]instance, 0, len(instances))
	for _, in := range instances {
		if !in.suspect {
			kept = append(kept, in)
		}
	}
	if len(kept) == 0 {
		return instances
	}
	return kept
}

// addService fills owner with the A/AAAA and SRV records of its instances,
// and the SRV targets' addresses as additional records. An rrset holds no
// record twice (RFC 2181 section 5): members that share an address give
// one A/AAAA record, and a repeated instance (a service tag listed twice)
// one SRV record.
func (b *indexBuilder) addService(owner string, instances []instance) {
	s := b.set(owner)
	nodeTTL := ttlSeconds(b.cfg.NodeTTL)
	type srvKey struct {
		target       string
		port, weight uint16
	}
	seenSRV := make(map[srvKey]bool, len(instances))
	seenTarget := make(map[string]bool, len(instances))
	seenAddr := make(map[netip.Addr]bool, len(instances))
	for _, in := range instances {
		ttl := b.cfg.serviceTTL(in.svc.Name)
		key := srvKey{in.target, in.svc.Port, srvWeight(in.svc.Weight)}
		if !seenSRV[key] {
			seenSRV[key] = true
			s.srv = append(s.srv, &mdns.SRV{
				Hdr:      header(owner, mdns.TypeSRV, ttl),
				Priority: 1,
				Weight:   key.weight,
				Port:     key.port,
				Target:   in.target,
			})
		}
		if seenTarget[in.target] {
			continue // one address per member, even with two ports
		}
		seenTarget[in.target] = true
		rr := addrRR(owner, in.addr, ttl)
		if rr == nil {
			continue
		}
		// Each target keeps its own additional record, under its own name.
		s.extra = append(s.extra, addrRR(in.target, in.addr, nodeTTL))
		addr, _ := netip.AddrFromSlice(in.addr) // valid: addrRR made a record of it
		if addr = addr.Unmap(); !seenAddr[addr] {
			seenAddr[addr] = true
			s.add(rr)
		}
	}
}

// addApex adds the SOA and NS records of the domain and returns the SOA. The
// name server is the local node, so resolvers that follow the NS record
// reach the agent they asked.
func (b *indexBuilder) addApex(snap *node.Snapshot) mdns.RR {
	apex := b.set(b.domain)
	ns := "ns." + b.domain
	if self, ok := snap.Get(snap.Self); ok && self.Status == node.StatusAlive {
		if target, ok := b.fqdn(self.Name, "node"); ok {
			ns = target
			if rr := addrRR(target, self.Addr, ttlSeconds(b.cfg.NodeTTL)); rr != nil {
				apex.extra = append(apex.extra, rr)
			}
		}
	}
	negTTL := ttlSeconds(b.cfg.NegativeTTL)
	soa := &mdns.SOA{
		Hdr:     header(b.domain, mdns.TypeSOA, negTTL),
		Ns:      ns,
		Mbox:    "hostmaster." + b.domain,
		Serial:  uint32(snap.Version), // changes with membership; wraps, as RFC 1982 allows
		Refresh: ttlSeconds(b.cfg.SOARefresh),
		Retry:   ttlSeconds(b.cfg.SOARetry),
		Expire:  ttlSeconds(b.cfg.SOAExpire),
		Minttl:  negTTL,
	}
	apex.soa = []mdns.RR{soa}
	apex.ns = []mdns.RR{&mdns.NS{Hdr: header(b.domain, mdns.TypeNS, ttlSeconds(b.cfg.NodeTTL)), Ns: ns}}
	return soa
}

func (s *rrset) add(rr mdns.RR) {
	switch rr.Header().Rrtype {
	case mdns.TypeA:
		s.a = append(s.a, rr)
	case mdns.TypeAAAA:
		s.aaaa = append(s.aaaa, rr)
	}
}

func header(owner string, rrtype uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
}

// addrRR returns an A or AAAA record for ip, or nil when ip is unset.
func addrRR(owner string, ip net.IP, ttl uint32) mdns.RR {
	if v4 := ip.To4(); v4 != nil {
		return &mdns.A{Hdr: header(owner, mdns.TypeA, ttl), A: v4}
	}
	if len(ip) == net.IPv6len {
		return &mdns.AAAA{Hdr: header(owner, mdns.TypeAAAA, ttl), AAAA: ip}
	}
	return nil
}

// tagStrings renders tags as sorted "k=v" strings. A TXT string holds at
// most 255 bytes; longer pairs are left out rather than cut, since a cut
// value would be wrong rather than missing.
func tagStrings(tags map[string]string) []string {
	out := make([]string, 0, len(tags))
	for k, v := range tags {
		if kv := k + "=" + v; len(kv) <= 255 {
			out = append(out, escapeTXT(kv))
		}
	}
	slices.Sort(out)
	return out
}

// maintenanceStrings renders the member's maintenance (shoal maint) for
// its TXT record: "maintenance=<reason>" for the whole node and
// "maintenance:<service id>=<reason>" for one instance, sorted, after the
// tags. A reason is cut to fit a TXT string: unlike a tag value, a cut
// reason still says the state, and leaving it out would hide it.
func maintenanceStrings(m node.Member) []string {
	var out []string
	add := func(key string, c node.CheckState) {
		if c.ID != node.MaintenanceCheckID || c.Status != node.HealthMaintenance || len(key) > 254 {
			return
		}
		kv := key + "=" + c.Note
		out = append(out, escapeTXT(kv[:min(len(kv), 255)]))
	}
	for _, c := range m.Checks {
		add("maintenance", c)
	}
	for _, s := range m.Services {
		for _, c := range s.Checks {
			add("maintenance:"+cmp.Or(s.ID, s.Name), c)
		}
	}
	slices.Sort(out)
	return out
}

// srvWeight maps a service weight to SRV's 16 bits. An unset (zero) weight
// is served as 1: RFC 2782 gives weight 0 almost no traffic when others
// are set, which is not what an undeclared weight means.
func srvWeight(w int) uint16 {
	switch {
	case w <= 0:
		return 1
	case w > 65535:
		return 65535
	default:
		return uint16(w)
	}
}

// escapeTXT writes s in the presentation format miekg/dns packs TXT strings
// from, so a tag value with a quote, a backslash or a control byte reaches
// the wire as the same bytes.
func escapeTXT(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c < 0x20 || c > 0x7e {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&sb, "\\%03d", c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}
