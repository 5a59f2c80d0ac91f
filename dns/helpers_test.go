package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// recorder is a ResponseWriter that keeps the response the handler wrote.
type recorder struct {
	tcp bool
	raw []byte
	msg *mdns.Msg
	err error // from unpacking what the handler wrote
}

func (r *recorder) LocalAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

func (r *recorder) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = r.Write(b)
	return err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.raw = slices.Clone(b) // the handler reuses its buffer
	m := new(mdns.Msg)
	if err := m.Unpack(r.raw); err != nil {
		r.err = fmt.Errorf("response does not unpack: %w", err)
		return 0, r.err
	}
	r.msg = m
	return len(b), nil
}

func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// view is a View over a settable snapshot; set signals the change the way
// node.Node does, with a non-blocking send on a capacity-1 channel.
type view struct {
	snap    atomic.Pointer[node.Snapshot]
	changed chan struct{}
}

func newView(s *node.Snapshot) *view {
	v := &view{changed: make(chan struct{}, 1)}
	v.snap.Store(s)
	return v
}

func (v *view) Snapshot() *node.Snapshot         { return v.snap.Load() }
func (v *view) Watch() (<-chan struct{}, func()) { return v.changed, func() {} }

func (v *view) set(s *node.Snapshot) {
	v.snap.Store(s)
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// testSnapshot is a small cluster with every status, IPv4 and IPv6
// members, tagged services and a member offering two services.
func testSnapshot() *node.Snapshot {
	return &node.Snapshot{
		Self:    "alpha",
		Version: 7,
		Members: []node.Member{
			{Name: "alpha", Addr: net.ParseIP("10.0.0.1"), Status: node.StatusAlive,
				Tags: map[string]string{"role": "web", "dc": "x"},
				Services: []node.Service{
					{Name: "web", Port: 8080, Tags: []string{"v2"}, Weight: 10},
					{Name: "db", Port: 5432},
				}},
			{Name: "beta", Addr: net.ParseIP("10.0.0.2"), Status: node.StatusAlive,
				Services: []node.Service{{Name: "web", Port: 8081, Tags: []string{"v1"}, Weight: 5}}},
			{Name: "delta", Addr: net.ParseIP("10.0.0.4"), Status: node.StatusFailed,
				Services: []node.Service{{Name: "web", Port: 8080}, {Name: "cache", Port: 6379}}},
			{Name: "epsilon", Addr: net.ParseIP("10.0.0.5"), Status: node.StatusLeft,
				Services: []node.Service{{Name: "web", Port: 8080}}},
			{Name: "gamma", Addr: net.ParseIP("fd00::3"), Status: node.StatusAlive,
				Services: []node.Service{{Name: "web", Port: 8080}}},
			{Name: "zeta", Addr: net.ParseIP("10.0.0.6"), Status: node.StatusLeaving,
				Services: []node.Service{{Name: "web", Port: 8080}}},
		},
	}
}

// bigSnapshot has n alive members offering service "big".
func bigSnapshot(n int) *node.Snapshot {
	s := &node.Snapshot{Self: "node-000", Version: 1}
	for i := range n {
		s.Members = append(s.Members, node.Member{
			Name:     fmt.Sprintf("node-%03d", i),
			Addr:     net.IPv4(127, 1, byte(i/250), byte(1+i%250)),
			Status:   node.StatusAlive,
			Services: []node.Service{{Name: "big", Port: uint16(9000 + i), Weight: 1}},
		})
	}
	return s
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.ReadTimeout = 500 * time.Millisecond
	cfg.WriteTimeout = 500 * time.Millisecond
	cfg.IdleTimeout = 500 * time.Millisecond
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startServer runs a server until the test ends and checks that Run
// returns cleanly.
func startServer(t *testing.T, cfg Config, v View) *Server {
	t.Helper()
	srv, err := New(cfg, v, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30s after cancel")
		}
	})
	select {
	case <-srv.Started():
	case err := <-done:
		t.Fatalf("Run returned before starting: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start within 30s")
	}
	return srv
}

// query asks one question; edns > 0 adds an OPT record with that size.
func query(name string, qtype uint16, edns uint16) *mdns.Msg {
	m := new(mdns.Msg).SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	return m
}

// rdata renders records as "TYPE rdata", sorted, so shuffled answers
// compare equal.
func rdata(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		text := strings.TrimPrefix(rr.String(), rr.Header().String())
		out = append(out, mdns.TypeToString[rr.Header().Rrtype]+" "+text)
	}
	slices.Sort(out)
	return out
}
