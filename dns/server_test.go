package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

func exchange(t *testing.T, proto, addr string, req *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: proto, Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s exchange %s: %v", proto, req.Question[0].Name, err)
	}
	return resp
}

func TestServer_UDPAndTCP(t *testing.T) {
	srv := startServer(t, testConfig(), newView(testSnapshot()))
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			got := exchange(t, proto, srv.Addr(), query("web.service.shoal.", mdns.TypeSRV, 0))
			want := []string{"SRV 1 1 8080 gamma.node.shoal.", "SRV 1 10 8080 alpha.node.shoal.",
				"SRV 1 5 8081 beta.node.shoal."}
			if !slices.Equal(rdata(got.Answer), want) {
				t.Errorf("SRV: got %q, want %q", rdata(got.Answer), want)
			}
			if got := exchange(t, proto, srv.Addr(), query("nope.shoal.", mdns.TypeA, 0)); got.Rcode != mdns.RcodeNameError {
				t.Errorf("unknown name: got %s, want NXDOMAIN", mdns.RcodeToString[got.Rcode])
			}
		})
	}
}

func TestServer_LargeAnswerTruncatedOverUDPWholeOverTCP(t *testing.T) {
	srv := startServer(t, testConfig(), newView(bigSnapshot(50)))
	for _, qtype := range []uint16{mdns.TypeA, mdns.TypeSRV} {
		udp := exchange(t, "udp", srv.Addr(), query("big.service.shoal.", qtype, 0))
		if !udp.Truncated {
			t.Errorf("%s over UDP without EDNS: TC not set (%d answers)", mdns.TypeToString[qtype], len(udp.Answer))
		}
		tcp := exchange(t, "tcp", srv.Addr(), query("big.service.shoal.", qtype, 0))
		if tcp.Truncated || len(tcp.Answer) != 50 {
			t.Errorf("%s over TCP: got TC=%v and %d answers, want the 50", mdns.TypeToString[qtype], tcp.Truncated, len(tcp.Answer))
		}
	}
}

func TestServer_FollowsMembership(t *testing.T) {
	v := newView(testSnapshot())
	srv := startServer(t, testConfig(), v)
	if got := exchange(t, "udp", srv.Addr(), query("beta.node.shoal.", mdns.TypeA, 0)); len(got.Answer) != 1 {
		t.Fatalf("beta before the change: got %d answers, want 1", len(got.Answer))
	}

	next := testSnapshot()
	next.Version++
	for i := range next.Members {
		if next.Members[i].Name == "beta" {
			next.Members[i].Status = node.StatusFailed
		}
	}
	v.set(next)

	testutil.WaitFor(t, 10*time.Second, func() error {
		got := exchange(t, "udp", srv.Addr(), query("web.service.shoal.", mdns.TypeSRV, 0))
		for _, rr := range got.Answer {
			if rr.(*mdns.SRV).Target == "beta.node.shoal." {
				return fmt.Errorf("failed member beta still answered: %q", rdata(got.Answer))
			}
		}
		return nil
	})
	if got := exchange(t, "udp", srv.Addr(), query("beta.node.shoal.", mdns.TypeA, 0)); got.Rcode != mdns.RcodeNameError {
		t.Errorf("failed node: got %s, want NXDOMAIN", mdns.RcodeToString[got.Rcode])
	}
	if got := exchange(t, "udp", srv.Addr(), query("shoal.", mdns.TypeSOA, 0)); got.Answer[0].(*mdns.SOA).Serial != 8 {
		t.Errorf("SOA serial: got %d, want the new version 8", got.Answer[0].(*mdns.SOA).Serial)
	}
}

// upstream runs a second DNS server on loopback that answers every A query
// with 127.0.0.53, standing in for a recursor.
func upstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
			resp := new(mdns.Msg).SetReply(req)
			resp.Answer = append(resp.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: req.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 53),
			})
			_ = w.WriteMsg(resp)
		})}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return pc.LocalAddr().String()
}

// silentUpstream holds a UDP port that never answers.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestServer_Recursors(t *testing.T) {
	live := upstream(t)
	silent := silentUpstream(t)

	for _, tc := range []struct {
		name      string
		recursors []string
		rcode     int
		answer    []string
	}{
		{"forwarded", []string{live}, mdns.RcodeSuccess, []string{"A 127.0.0.53"}},
		{"next recursor after a dead one", []string{silent, live}, mdns.RcodeSuccess, []string{"A 127.0.0.53"}},
		{"SERVFAIL when none answers", []string{silent}, mdns.RcodeServerFailure, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Recursors = tc.recursors
			cfg.RecursorTimeout = 300 * time.Millisecond // the silent one costs this much
			srv := startServer(t, cfg, newView(testSnapshot()))
			got := exchange(t, "udp", srv.Addr(), query("example.com.", mdns.TypeA, 0))
			if got.Rcode != tc.rcode {
				t.Errorf("rcode: got %s, want %s", mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if !slices.Equal(rdata(got.Answer), tc.answer) {
				t.Errorf("answer: got %q, want %q", rdata(got.Answer), tc.answer)
			}
			if !got.RecursionAvailable {
				t.Errorf("RA not set with recursors configured")
			}
			// The domain is still answered locally.
			if got := exchange(t, "udp", srv.Addr(), query("alpha.node.shoal.", mdns.TypeA, 0)); len(got.Answer) != 1 {
				t.Errorf("local name with recursors: got %d answers, want 1", len(got.Answer))
			}
		})
	}
}

// rawUDP sends b and returns the reply.
func rawUDP(t *testing.T, addr string, b []byte) *mdns.Msg {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	m := new(mdns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return m
}

func TestServer_BadInput(t *testing.T) {
	srv := startServer(t, testConfig(), newView(testSnapshot()))

	good, _ := query("alpha.node.shoal.", mdns.TypeA, 0).Pack()
	twoQuestions := slices.Clone(good)
	binary.BigEndian.PutUint16(twoQuestions[4:], 2)
	update := slices.Clone(good)
	update[2] = mdns.OpcodeUpdate << 3
	cutName := slices.Clone(good[:20])
	longName := slices.Clone(good[:12])
	for range 5 { // 5 labels of 63 bytes: 320 bytes, over the 255 limit
		longName = append(longName, 63)
		longName = append(longName, []byte(string(make([]byte, 63)))...)
	}
	longName = append(longName, 0, 0, 1, 0, 1)

	for _, tc := range []struct {
		name  string
		raw   []byte
		rcode int
	}{
		{"two questions", twoQuestions, mdns.RcodeFormatError},
		{"update", update, mdns.RcodeNotImplemented},
		{"cut in the name", cutName, mdns.RcodeFormatError},
		{"name over 255 bytes", longName, mdns.RcodeFormatError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawUDP(t, srv.Addr(), tc.raw); got.Rcode != tc.rcode {
				t.Errorf("rcode: got %s, want %s", mdns.RcodeToString[got.Rcode], mdns.RcodeToString[tc.rcode])
			}
		})
	}

	t.Run("garbage over TCP", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		garbage := append([]byte{0, byte(len(cutName))}, cutName...)
		if _, err := conn.Write(garbage); err != nil {
			t.Fatal(err)
		}
		c := &mdns.Conn{Conn: conn}
		got, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("no FORMERR for garbage: %v", err)
		}
		if got.Rcode != mdns.RcodeFormatError {
			t.Errorf("rcode: got %s, want FORMERR", mdns.RcodeToString[got.Rcode])
		}
		// The connection still serves a good query.
		if err := c.WriteMsg(query("alpha.node.shoal.", mdns.TypeA, 0)); err != nil {
			t.Fatal(err)
		}
		if got, err := c.ReadMsg(); err != nil || len(got.Answer) != 1 {
			t.Errorf("good query after garbage: got %v, %v", got, err)
		}
	})

	t.Run("stalled TCP client is disconnected", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		// Announce 100 bytes, send 3, then nothing: the read timeout must close it.
		if _, err := conn.Write([]byte{0, 100, 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept a stalled connection open for 20s")
		}
	})
}

func TestServer_ConcurrentQueriesDuringChanges(t *testing.T) {
	v := newView(bigSnapshot(20))
	srv := startServer(t, testConfig(), v)
	ctx, cancel := context.WithCancel(context.Background())
	var setter, queriers sync.WaitGroup
	setter.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			v.set(bigSnapshot(10 + i%20))
		}
	})
	for range 4 {
		queriers.Go(func() {
			for range 50 {
				got := exchange(t, "tcp", srv.Addr(), query("big.service.shoal.", mdns.TypeSRV, 0))
				if got.Rcode != mdns.RcodeSuccess || len(got.Answer) < 10 {
					t.Errorf("during changes: got %s with %d answers", mdns.RcodeToString[got.Rcode], len(got.Answer))
					return
				}
			}
		})
	}
	queriers.Wait()
	cancel()
	setter.Wait()
}

func TestNew_RejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "nohost"
	cfg.Domain = ""
	cfg.NodeTTL = -time.Second
	cfg.MaxUDPSize = 100
	cfg.Recursors = []string{"[::1"}
	cfg.RecursorTimeout = 0
	_, err := New(cfg, newView(testSnapshot()), nil)
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"addr", "domain", "node ttl", "max udp size", "recursor", "recursor timeout"} {
		if !strings.Contains(strings.ToLower(err.Error()), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig does not validate: %v", err)
	}
}

// The agent passes its *node.Node as the View.
var _ View = (*node.Node)(nil)
