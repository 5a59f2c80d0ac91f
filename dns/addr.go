package dns

import (
	"encoding/hex"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// Consul's .addr. names: "<hex>.addr.<domain>" resolves to the address its
// label spells, 8 hex digits for IPv4 (an A record) and 32 for IPv6 (an
// AAAA record). Consul gives them as SRV targets when a service listens on
// an address other than its node's; shoal's services always use their
// member's address, so its SRV targets are node names, but a client built
// for Consul may still ask for these names.

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
