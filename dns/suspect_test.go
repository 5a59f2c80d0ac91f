package dns

import (
	"net"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// Suspect members: left out of service answers while another instance is
// answered, answered when all are suspect, and still answered by name.
func TestHandler_SuspectMembers(t *testing.T) {
	h := newHandler(testConfig(), testLogger(t))
	h.update(&node.Snapshot{Self: "alpha", Version: 3, Members: []node.Member{
		{Name: "alpha", Addr: net.ParseIP("10.0.0.1"), Status: node.StatusAlive,
			Services: []node.Service{{Name: "web", Port: 8080}}},
		{Name: "beta", Addr: net.ParseIP("10.0.0.2"), Status: node.StatusSuspect,
			Services: []node.Service{{Name: "web", Port: 8080, Tags: []string{"v2"}}, {Name: "api", Port: 9000}}},
	}})
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		answer []string
	}{
		{"service with an alive instance", "web.service.shoal.", mdns.TypeA, []string{"A 10.0.0.1"}},
		{"its SRV", "_web._tcp.service.shoal.", mdns.TypeSRV, []string{"SRV 1 1 8080 alpha.node.shoal."}},
		{"only suspect instances", "api.service.shoal.", mdns.TypeA, []string{"A 10.0.0.2"}},
		{"a tag only the suspect has", "v2.web.service.shoal.", mdns.TypeA, []string{"A 10.0.0.2"}},
		{"the suspect by name", "beta.node.shoal.", mdns.TypeA, []string{"A 10.0.0.2"}},
		{"its reverse name", "2.0.0.10.in-addr.arpa.", mdns.TypePTR, []string{"PTR beta.node.shoal."}},
	} {
		got := serve(h, query(tc.qname, tc.qtype, 0), false).msg
		if got.Rcode != mdns.RcodeSuccess || !slices.Equal(rdata(got.Answer), tc.answer) {
			t.Errorf("%s: %s %s: got %s %q, want NOERROR %q", tc.name, tc.qname, mdns.TypeToString[tc.qtype],
				mdns.RcodeToString[got.Rcode], rdata(got.Answer), tc.answer)
		}
	}
}
