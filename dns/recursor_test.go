package dns

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("counting open files needs /proc/self/fd")
	}
	if err != nil {
		t.Fatalf("counting open files: %v", err)
	}
	return len(entries)
}

// askWithRetries asks over UDP as a stub resolver does: a few tries, each
// with its own timeout, since a flood may cost a datagram.
func askWithRetries(addr string, req *mdns.Msg) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	var err error
	for range 3 {
		var resp *mdns.Msg
		if resp, _, err = c.Exchange(req, addr); err == nil {
			return resp, nil
		}
	}
	return nil, err
}

// TestServer_ForwardFloodIsBounded floods a server whose recursor never
// answers with thousands of forwarded queries. The process's open files
// stay under the bound on forwards plus slack, the bound answers SERVFAIL
// at once, and names in the domain are answered throughout.
func TestServer_ForwardFloodIsBounded(t *testing.T) {
	const flood, senders, bound, slack = 6000, 4, 64, 24
	cfg := testConfig()
	cfg.Recursors = []string{silentUpstream(t)}
	cfg.RecursorTimeout = 2 * time.Second
	cfg.MaxInflightForwards = bound
	srv := startServer(t, cfg, newView(testSnapshot()))
	base := openFiles(t)

	var maxFiles, servfails atomic.Int64
	sample := func() {
		n := int64(openFiles(t))
		for old := maxFiles.Load(); n > old && !maxFiles.CompareAndSwap(old, n); old = maxFiles.Load() {
		}
	}
	done := make(chan struct{})
	var probes, floods sync.WaitGroup
	var answered atomic.Int64
	probes.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond) // a probe's pace, not synchronisation
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			resp, err := askWithRetries(srv.Addr(), query("web.service.shoal.", mdns.TypeA, 0))
			if err != nil || len(resp.Answer) != 2 {
				t.Errorf("in-domain query %d during the flood: got %v, %v; want 2 answers", i, resp, err)
				return
			}
			answered.Add(1)
		}
	})
	for s := range senders {
		floods.Go(func() { floodForwards(t, srv.Addr(), s, flood/senders, cfg.RecursorTimeout, sample, &servfails) })
	}
	floods.Wait()
	close(done)
	probes.Wait()

	if got := maxFiles.Load(); got > int64(base+bound+slack) {
		t.Errorf("open files peaked at %d, want at most %d (%d before the flood, %d forwards, %d slack)",
			got, base+bound+slack, base, bound, slack)
	}
	if refused := srv.handler.forwardsRefused.Load(); refused == 0 {
		t.Errorf("no forward was refused: the flood never reached the bound of %d", bound)
	}
	if servfails.Load() < bound {
		t.Errorf("got %d SERVFAIL answers to %d forwarded queries, want at least %d", servfails.Load(), flood, bound)
	}
	if answered.Load() == 0 {
		t.Errorf("no in-domain query was answered during the flood")
	}
	t.Logf("open files: %d before, peak %d; %d SERVFAIL of %d; %d refused at the bound; %d in-domain answers during the flood",
		base, maxFiles.Load(), servfails.Load(), flood, srv.handler.forwardsRefused.Load(), answered.Load())
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := srv.handler.forwards.Load(); n != 0 {
			return fmt.Errorf("got %d forwards in flight after the flood, want 0", n)
		}
		return nil
	})
}

// floodForwards sends n queries for names outside the domain to addr from
// a socket of its own, as fast as it can, calling sample every 50, and
// counts the SERVFAIL answers that arrive within timeout plus slack.
func floodForwards(t *testing.T, addr string, id, n int, timeout time.Duration, sample func(), servfails *atomic.Int64) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	var readers sync.WaitGroup
	readers.Go(func() { // SERVFAIL, at once past the bound or after the timeout
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if m := new(mdns.Msg); m.Unpack(buf[:n]) == nil && m.Rcode == mdns.RcodeServerFailure {
				servfails.Add(1)
			}
		}
	})
	for i := range n {
		b, _ := query(fmt.Sprintf("q%d-%d.example.com.", id, i), mdns.TypeA, 0).Pack()
		if _, err := conn.WriteToUDP(b, to); err != nil {
			t.Errorf("flood: %v", err)
			break
		}
		if i%50 == 0 {
			sample()
		}
	}
	sample()
	// The reader stops a little after the last forward times out; the
	// test needs only some of the answers.
	_ = conn.SetReadDeadline(time.Now().Add(timeout + 2*time.Second))
	readers.Wait()
}

// silentTCPUpstream accepts TCP connections and never answers.
func silentTCPUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestServer_TCPAllBusy: with every TCP slot answering a query (forwarded
// to a recursor that never answers), a new connection is closed at once
// rather than left waiting; UDP is answered meanwhile, and the forwards
// are SERVFAIL at the bound.
func TestServer_TCPAllBusy(t *testing.T) {
	cfg := testConfig()
	cfg.TCPMaxConns = 2
	cfg.MaxInflightForwards = 2
	cfg.Recursors = []string{silentTCPUpstream(t)}
	cfg.RecursorTimeout = RecursorTimeoutRange.Max // shutdown ends the forwards, not the timeout
	srv := startServer(t, cfg, newView(testSnapshot()))

	for i := range 2 {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		co := &mdns.Conn{Conn: c}
		if err := co.WriteMsg(query(fmt.Sprintf("busy%d.example.com.", i), mdns.TypeA, 0)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := srv.handler.forwards.Load(); n != 2 {
			return fmt.Errorf("got %d forwards in flight, want 2", n)
		}
		return nil
	})
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := closedByPeer(c, 20*time.Second); err != nil {
		t.Fatalf("a third TCP connection with both slots busy: %v", err)
	}
	if got := srv.tcp.refused.Load(); got != 1 {
		t.Errorf("got %d refused connections, want 1", got)
	}
	// UDP still answers, and a third forward is refused at the bound.
	if got, err := askWithRetries(srv.Addr(), query("alpha.node.shoal.", mdns.TypeA, 0)); err != nil || len(got.Answer) != 1 {
		t.Errorf("UDP with TCP full: got %v, %v; want 1 answer", got, err)
	}
	if got, err := askWithRetries(srv.Addr(), query("third.example.com.", mdns.TypeA, 0)); err != nil || got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("a forward past the bound: got %v, %v; want SERVFAIL", got, err)
	}
}

// TestForward_RefusesOtherQuestions: an upstream answer for another
// question (a forgery, or a stale answer) is not relayed.
func TestForward_RefusesOtherQuestions(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	up := &mdns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
			resp := new(mdns.Msg).SetReply(req)
			resp.Question[0].Name = "other.example."
			_ = w.WriteMsg(resp)
		})}
	go func() { _ = up.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = up.Shutdown() })

	cfg := testConfig()
	cfg.Recursors = []string{pc.LocalAddr().String()}
	srv := startServer(t, cfg, newView(testSnapshot()))
	got := exchange(t, "udp", srv.Addr(), query("example.com.", mdns.TypeA, 0))
	if got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("upstream answered another question: got %s, want SERVFAIL", mdns.RcodeToString[got.Rcode])
	}
}
