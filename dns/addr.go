package dns

import (
	"encoding/hex"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// Consul's .addr. names: "<hex>.addr.<domain>" resolves to the address its
// label spells, 8 hex digits for IPv4 (an A record) and 32 for IPv6 (an
// AAAA record). They are the SRV targets of service instances with an
// address of their own (node.Service.Address), as in Consul; instances at
// their member's address have the member's node name as target.

// addrLabel is the label the .addr. names live under, with its dot.
const addrLabel = "addr."

// addrRecord returns the record of name, lowercase and inside zone, when it
// is a .addr. name; false for any other name, including a malformed one
// (a wrong length, a non-hex digit, more than one label), which is then
// NXDOMAIN like any name the index lacks.
func addrRecord(name, zone string, ttl uint32) (mdns.RR, bool) {
	label, ok := strings.CutSuffix(name, "."+addrLabel+zone)
	if !ok || (len(label) != 2*net.IPv4len && len(label) != 2*net.IPv6len) {
		return nil, false
	}
	ip, err := hex.DecodeString(label) // also rejects a dot: label is one label
	if err != nil {
		return nil, false
	}
	if len(ip) == net.IPv4len {
		return &mdns.A{Hdr: header(name, mdns.TypeA, ttl), A: ip}, true
	}
	return &mdns.AAAA{Hdr: header(name, mdns.TypeAAAA, ttl), AAAA: ip}, true
}

// addrName returns the .addr. name of ip under domain.
func addrName(ip net.IP, domain string) string {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return hex.EncodeToString(ip) + "." + addrLabel + domain
}

// ownAddr returns an instance's own address, or nil when it has none
// that differs from its member's (memberAddr): unset, unspecified
// (0.0.0.0 binds every address, it names none), not an IP (a length
// other than 4 or 16), or the member's own.
func ownAddr(addr, memberAddr net.IP) net.IP {
	if (len(addr) != net.IPv4len && len(addr) != net.IPv6len) || addr.IsUnspecified() || addr.Equal(memberAddr) {
		return nil
	}
	return addr
}

// addrTarget returns the address record of an SRV target that is a
// .addr. name, in whichever domain.
func addrTarget(target string) (mdns.RR, bool) {
	i := strings.Index(target, "."+addrLabel)
	if i <= 0 {
		return nil, false
	}
	return addrRecord(lower(target), lower(target[i+1+len(addrLabel):]), 0)
}
