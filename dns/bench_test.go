package dns

import (
	"log/slog"
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// discard is a ResponseWriter that drops the packed response, so the
// benchmark measures the handler: lookup, shuffle, pack.
type discard struct{ recorder }

func (discard) Write(b []byte) (int, error) { return len(b), nil }

var benchLocal = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

func (discard) LocalAddr() net.Addr { return benchLocal }

// benchQueries are the requests both handler benchmarks serve, against
// benchHandler's records, with the answers each must get.
var benchQueries = []struct {
	name  string
	req   *mdns.Msg
	wantN int
}{
	{"node_A", query("node-007.node.shoal.", mdns.TypeA, 0), 1},
	{"service_A_20", query("big.service.shoal.", mdns.TypeA, 1232), 20},
	{"service_SRV_20", query("big.service.shoal.", mdns.TypeSRV, 1232), 20},
	{"service_SRV_20_truncated", query("big.service.shoal.", mdns.TypeSRV, 0), 12},
	{"service_SRV_3", query("web.service.shoal.", mdns.TypeSRV, 0), 3},
	{"nxdomain", query("nobody.node.shoal.", mdns.TypeA, 0), 0},
}

// benchHandler serves a 20-instance service beside the test snapshot.
func benchHandler() *handler {
	h := newHandler(DefaultConfig(), slog.New(slog.DiscardHandler))
	snap := bigSnapshot(20)
	snap.Members = append(snap.Members, testSnapshot().Members...)
	h.update(snap)
	return h
}

func BenchmarkHandler(b *testing.B) {
	h := benchHandler()
	for _, bc := range benchQueries {
		rec := &recorder{}
		h.ServeDNS(rec, bc.req)
		if len(rec.msg.Answer) != bc.wantN {
			b.Fatalf("%s: got %d answers, want %d", bc.name, len(rec.msg.Answer), bc.wantN)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			w := &discard{}
			for b.Loop() {
				h.ServeDNS(w, bc.req)
			}
		})
	}
}

// BenchmarkPacket measures the UDP loop's work per datagram, from raw query
// to packed response, without the syscalls.
func BenchmarkPacket(b *testing.B) {
	h := benchHandler()
	for _, bc := range benchQueries {
		raw, err := bc.req.Pack()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			s := newUDPScratch()
			for b.Loop() {
				if out, _ := h.servePacket(raw, s); out == nil {
					b.Fatal("no response")
				}
			}
		})
	}
}

func BenchmarkIndexBuild(b *testing.B) {
	snap := bigSnapshot(200)
	cfg := DefaultConfig()
	logger := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	for b.Loop() {
		buildIndex(snap, newSettings(cfg), logger)
	}
}
