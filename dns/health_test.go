package dns

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// maint is the check shoal maint adds; serviceID "" is the whole node.
func maint(serviceID, reason string) node.CheckState {
	return node.CheckState{ID: node.MaintenanceCheckID, ServiceID: serviceID, Status: node.HealthMaintenance, Note: reason}
}

// healthSnapshot has one instance of "web" in each health state, two
// instances on one member, one at its own address, and members whose
// node-level health is critical or in maintenance:
//
//	alpha   web (8080) and web-2 (8081), passing
//	beta    web, warning
//	gamma   web and api, critical
//	delta   web in maintenance ("kernel upgrade")
//	eps     web passing, but the member's node check is critical (the
//	        owner did not fold it in: DNS must take the worst itself); cache
//	zeta    the whole node in maintenance ("rack move")
//	eta     web-own at its own address 10.9.0.7:9000, passing
func healthSnapshot() *node.Snapshot {
	alive := func(name, ip string, services ...node.Service) node.Member {
		return node.Member{Name: name, Addr: net.ParseIP(ip), Status: node.StatusAlive, Services: services}
	}
	web := func(id string, port uint16, h node.Health) node.Service {
		return node.Service{ID: id, Name: "web", Port: port, Health: h}
	}
	delta := web("web", 8080, node.HealthMaintenance)
	delta.Checks = []node.CheckState{maint("web", "kernel upgrade")}
	eps := alive("eps", "10.0.0.5", web("web", 8080, node.HealthPassing), node.Service{ID: "cache", Name: "cache", Port: 6379})
	eps.Health = node.HealthCritical
	eps.Checks = []node.CheckState{{ID: "disk", Status: node.HealthCritical, Note: "disk full"}}
	zeta := alive("zeta", "10.0.0.6", web("web", 8080, node.HealthMaintenance))
	zeta.Tags = map[string]string{"role": "web"}
	zeta.Health = node.HealthMaintenance
	zeta.Checks = []node.CheckState{maint("", "rack move")}
	own := web("web-own", 9000, node.HealthPassing)
	own.Address = net.ParseIP("10.9.0.7")
	return &node.Snapshot{Self: "alpha", Version: 1, Members: []node.Member{
		alive("alpha", "10.0.0.1", web("web", 8080, node.HealthPassing), web("web-2", 8081, node.HealthPassing)),
		alive("beta", "10.0.0.2", web("web", 8080, node.HealthWarning)),
		alive("delta", "10.0.0.4", delta),
		eps,
		alive("eta", "10.0.0.7", own),
		alive("gamma", "10.0.0.3", web("web", 8080, node.HealthCritical),
			node.Service{ID: "api", Name: "api", Port: 9090, Health: node.HealthCritical}),
		zeta,
	}}
}

// The instances a service name answers follow their health: passing and
// warning, never critical or maintenance, nor any of a member whose node
// is critical; two instances on one member give two SRV records with
// their own ports, and an instance at its own address is answered there.
func TestHandler_ServiceHealth(t *testing.T) {
	soa := []string{"SOA alpha.node.shoal. hostmaster.shoal. 1 3600 600 86400 0"}
	for _, tc := range []struct {
		name        string
		onlyPassing bool
		qname       string
		qtype       uint16
		rcode       int
		answer      []string
		extra       []string
	}{
		{"A: passing, warning and an own address", false, "web.service.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1", "A 10.0.0.2", "A 10.9.0.7"}, nil},
		{"SRV: one per instance, own ports, own address", false, "web.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 1 8080 alpha.node.shoal.", "SRV 1 1 8080 beta.node.shoal.",
				"SRV 1 1 8081 alpha.node.shoal.", "SRV 1 1 9000 0a090007.addr.shoal."},
			[]string{"A 10.0.0.1", "A 10.0.0.2", "A 10.9.0.7"}},
		{"only_passing drops warning", true, "web.service.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.1", "A 10.9.0.7"}, nil},
		{"only_passing SRV", true, "_web._tcp.service.shoal.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 1 1 8080 alpha.node.shoal.", "SRV 1 1 8081 alpha.node.shoal.", "SRV 1 1 9000 0a090007.addr.shoal."},
			[]string{"A 10.0.0.1", "A 10.9.0.7"}},
		{"only critical instances: no such name", false, "api.service.shoal.", mdns.TypeA, mdns.RcodeNameError, nil, nil},
		{"only on a critical node: no such name", false, "cache.service.shoal.", mdns.TypeSRV, mdns.RcodeNameError, nil, nil},
		{"a critical node still answers by name", false, "eps.node.shoal.", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"A 10.0.0.5"}, nil},
		{"node maintenance in TXT, after the tags", false, "zeta.node.shoal.", mdns.TypeTXT, mdns.RcodeSuccess,
			[]string{`TXT "role=web" "maintenance=rack move"`}, nil},
		{"service maintenance in TXT", false, "delta.node.shoal.", mdns.TypeTXT, mdns.RcodeSuccess,
			[]string{`TXT "maintenance:web=kernel upgrade"`}, nil},
		{"a healthy node has no TXT", false, "alpha.node.shoal.", mdns.TypeTXT, mdns.RcodeSuccess, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.OnlyPassing = tc.onlyPassing
			h := newHandler(cfg, testLogger(t))
			h.update(healthSnapshot())
			if rs := h.index.Load().names["web.service.shoal."]; rs == nil || rs.wire == nil {
				t.Errorf("web.service.shoal. has no encoded records: .addr. targets left the UDP fast path")
			}
			got := serve(h, query(tc.qname, tc.qtype, 0), false).msg
			if got.Rcode != tc.rcode {
				t.Fatalf("rcode: got %s, want %s", mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if !slices.Equal(rdata(got.Answer), tc.answer) {
				t.Errorf("answer: got %q, want %q", rdata(got.Answer), tc.answer)
			}
			if !slices.Equal(rdata(got.Extra), tc.extra) {
				t.Errorf("additional: got %q, want %q", rdata(got.Extra), tc.extra)
			}
			if len(got.Answer) == 0 && !slices.Equal(rdata(got.Ns), soa) {
				t.Errorf("authority of an empty answer: got %q, want %q", rdata(got.Ns), soa)
			}
		})
	}
}

// Suspicion and health compose: a healthy instance of an alive member is
// answered before anything else; healthy suspect ones when there is no
// such instance; a critical one never, even when it is the only one.
func TestHandler_SuspectAndHealth(t *testing.T) {
	member := func(name, ip string, st node.Status, h node.Health, svc string) node.Member {
		return node.Member{Name: name, Addr: net.ParseIP(ip), Status: st,
			Services: []node.Service{{ID: svc, Name: svc, Port: 80, Health: h}}}
	}
	h := newHandler(testConfig(), testLogger(t))
	h.update(&node.Snapshot{Self: "a", Version: 1, Members: []node.Member{
		member("a", "10.0.0.1", node.StatusAlive, node.HealthCritical, "one"),
		member("b", "10.0.0.2", node.StatusSuspect, node.HealthPassing, "one"),
		member("c", "10.0.0.3", node.StatusAlive, node.HealthCritical, "two"),
		member("d", "10.0.0.4", node.StatusAlive, node.HealthWarning, "two"),
		member("e", "10.0.0.5", node.StatusSuspect, node.HealthPassing, "two"),
		member("f", "10.0.0.6", node.StatusSuspect, node.HealthCritical, "three"),
		member("g", "10.0.0.7", node.StatusAlive, node.HealthMaintenance, "three"),
	}})
	for _, tc := range []struct {
		qname string
		rcode int
		want  []string
	}{
		{"one.service.shoal.", mdns.RcodeSuccess, []string{"A 10.0.0.2"}}, // the healthy suspect, not the critical alive one
		{"two.service.shoal.", mdns.RcodeSuccess, []string{"A 10.0.0.4"}}, // the healthy alive one only
		{"three.service.shoal.", mdns.RcodeNameError, nil},                // nothing healthy: empty, as Consul answers
	} {
		got := serve(h, query(tc.qname, mdns.TypeA, 0), false).msg
		if got.Rcode != tc.rcode || !slices.Equal(rdata(got.Answer), tc.want) {
			t.Errorf("%s: got %s %q, want %s %q", tc.qname, mdns.RcodeToString[got.Rcode], rdata(got.Answer),
				mdns.RcodeToString[tc.rcode], tc.want)
		}
	}
}

// End to end over UDP (the encoded fast path) and TCP (miekg's packing):
// the SRV target of an instance at its own address resolves through the
// additional section to that address, and a check going critical takes
// an instance out of the answers as soon as the snapshot says so.
func TestServer_FollowsHealth(t *testing.T) {
	v := newView(healthSnapshot())
	srv := startServer(t, testConfig(), v)
	for _, proto := range []string{"udp", "tcp"} {
		resp := exchange(t, proto, srv.Addr(), query("web.service.shoal.", mdns.TypeSRV, 1232))
		var target string
		for _, rr := range resp.Answer {
			if srv := rr.(*mdns.SRV); srv.Port == 9000 {
				target = srv.Target
			}
		}
		if target != "0a090007.addr.shoal." {
			t.Fatalf("%s: SRV of web-own: got target %q in %q, want 0a090007.addr.shoal.", proto, target, rdata(resp.Answer))
		}
		var extra string
		for _, rr := range resp.Extra {
			if a, ok := rr.(*mdns.A); ok && a.Hdr.Name == target {
				extra = a.A.String()
			}
		}
		if extra != "10.9.0.7" {
			t.Errorf("%s: additional A of %s: got %q in %q, want 10.9.0.7", proto, target, extra, rdata(resp.Extra))
		}
		// The target resolves on its own too, as every .addr. name does.
		if got := rdata(exchange(t, proto, srv.Addr(), query(target, mdns.TypeA, 0)).Answer); !slices.Equal(got, []string{"A 10.9.0.7"}) {
			t.Errorf("%s: %s A: got %q, want A 10.9.0.7", proto, target, got)
		}
	}

	next := healthSnapshot()
	next.Version++
	next.Members[0].Services[1].Health = node.HealthCritical // alpha's web-2, port 8081
	v.set(next)
	testutil.WaitFor(t, 10*time.Second, func() error {
		resp := exchange(t, "udp", srv.Addr(), query("web.service.shoal.", mdns.TypeSRV, 0))
		for _, rr := range resp.Answer {
			if rr.(*mdns.SRV).Port == 8081 {
				return fmt.Errorf("critical web-2 still answered: %q", rdata(resp.Answer))
			}
		}
		return nil
	})
}

// The real dig reads the same answers.
func TestServer_DigHealth(t *testing.T) {
	srv := startServer(t, testConfig(), newView(healthSnapshot()))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"web.service.shoal", "SRV"}, []string{"1 1 8080 alpha.node.shoal.", "1 1 8080 beta.node.shoal.",
			"1 1 8081 alpha.node.shoal.", "1 1 9000 0a090007.addr.shoal."}},
		{[]string{"0a090007.addr.shoal", "A"}, []string{"10.9.0.7"}},
		{[]string{"zeta.node.shoal", "TXT"}, []string{`"role=web" "maintenance=rack move"`}},
	} {
		if got := dig(t, srv.Addr(), tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("dig %v: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
