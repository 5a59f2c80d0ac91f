package dns

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// closedByPeer reports whether conn was closed by the other end: a read
// gets EOF or a reset before deadline, rather than timing out.
func closedByPeer(conn net.Conn, deadline time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(deadline))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %s", deadline)
	}
	return nil // EOF (err nil) or a reset
}

// tcpServe accepts from l and echoes what each connection sends until it
// fails: like mdns.Server, it waits in Read and writes an answer. The
// connections busy picks it holds without reading, as mdns.Server does
// while it answers a query.
func tcpServe(t *testing.T, l *tcpListener, busy func(n int) bool) {
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if busy(n) {
					<-l.closed
					return
				}
				_, _ = io.Copy(c, c)
			})
		}
	})
}

// waitReading waits until l tracks n connections, all waiting in Read.
func waitReading(t *testing.T, l *tcpListener, n int) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		reading := 0
		for c := range l.conns {
			if c.reading.Load() {
				reading++
			}
		}
		if len(l.conns) != n || reading != n {
			return fmt.Errorf("got %d connections, %d of them waiting to read; want %d and %d", len(l.conns), reading, n, n)
		}
		return nil
	})
}

func TestTCPListener_AtCapClosesLongestIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTCPListener(ln, 3, testLogger(t))
	tcpServe(t, l, func(int) bool { return false })

	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b, c := dial(), dial(), dial()
	waitReading(t, l, 3)
	// a is answered, so b has now waited longest.
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(a, make([]byte, 1)); err != nil {
		t.Fatalf("no echo: %v", err)
	}
	_ = a.SetDeadline(time.Time{})
	waitReading(t, l, 3)

	d := dial()
	if err := closedByPeer(b, 10*time.Second); err != nil {
		t.Fatalf("the longest-idle connection at the cap: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n, ev := l.open(), l.evicted.Load(); n != 3 || ev != 1 {
			return fmt.Errorf("got %d open and %d closed for room, want 3 and 1", n, ev)
		}
		return nil
	})
	for name, conn := range map[string]net.Conn{"a": a, "c": c, "d": d} {
		if err := closedByPeer(conn, 50*time.Millisecond); err == nil {
			t.Errorf("connection %s was closed, want only the longest-idle one", name)
		}
	}
}

func TestTCPListener_AtCapAllBusyClosesNew(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTCPListener(ln, 2, testLogger(t))
	tcpServe(t, l, func(n int) bool { return n < 2 }) // the first two are answering

	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := l.open(); n != 2 {
			return fmt.Errorf("got %d open connections, want 2", n)
		}
		return nil
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := closedByPeer(c, 10*time.Second); err != nil {
		t.Fatalf("a new connection past the cap with every slot busy: %v", err)
	}
	if got := l.refused.Load(); got != 1 {
		t.Errorf("got %d refused, want 1", got)
	}
	for i, h := range held {
		if err := closedByPeer(h, 50*time.Millisecond); err == nil {
			t.Errorf("busy connection %d was closed", i)
		}
	}
}

func TestTCPListener_CloseEndsBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTCPListener(failingListener{ln, make(chan struct{})}, 1, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := l.acceptErrors.Load(); n < 3 {
			return fmt.Errorf("got %d failed accepts, want 3 or more", n)
		}
		return nil
	})
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: got %v, want net.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Accept did not return 30s after Close")
	}
}

// failingListener fails every Accept with EMFILE until it is closed.
type failingListener struct {
	net.Listener
	closed chan struct{}
}

func (f failingListener) Accept() (net.Conn, error) {
	select {
	case <-f.closed:
		return nil, net.ErrClosed
	default:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
}

func (f failingListener) Close() error {
	close(f.closed)
	return f.Listener.Close()
}

// TestServer_HeldTCPFloodLocksNoOneOut holds 2,000 TCP connections, half
// silent and half idle after a query, against a server capped at 150 with
// timeouts long enough that only the cap acts. The server never holds
// more than 150, answers UDP throughout, answers new TCP clients during
// the flood, and again after it.
func TestServer_HeldTCPFloodLocksNoOneOut(t *testing.T) {
	const holders, maxConns = 2000, 150
	raiseNoFile(t, 3*holders)
	cfg := testConfig()
	cfg.TCPMaxConns = maxConns
	cfg.ReadTimeout, cfg.IdleTimeout = time.Minute, IdleTimeoutRange.Max
	srv := startServer(t, cfg, newView(testSnapshot()))

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range holders {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
		held = append(held, c)
		if i%2 == 1 {
			co := &mdns.Conn{Conn: c}
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if err := co.WriteMsg(query("alpha.node.shoal.", mdns.TypeA, 0)); err != nil {
				t.Fatalf("holder %d: %v", i, err)
			}
			if _, err := co.ReadMsg(); err != nil {
				t.Fatalf("holder %d: no answer: %v", i, err)
			}
		}
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		open, ev := srv.tcp.open(), srv.tcp.evicted.Load()
		if open > maxConns || uint64(open)+ev < holders {
			return fmt.Errorf("got %d open and %d closed for room, want at most %d open and %d in all", open, ev, maxConns, holders)
		}
		return nil
	})

	checkServes := func(when string) {
		t.Helper()
		for _, proto := range []string{"udp", "tcp"} {
			got := exchange(t, proto, srv.Addr(), query("web.service.shoal.", mdns.TypeA, 0))
			if len(got.Answer) != 2 {
				t.Errorf("%s %s: got %d answers, want 2", when, proto, len(got.Answer))
			}
		}
	}
	checkServes("during the flood")
	if n := srv.tcp.open(); n > maxConns {
		t.Errorf("during the flood: %d TCP connections open, over the cap %d", n, maxConns)
	}

	for _, c := range held {
		c.Close()
	}
	held = nil
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := srv.tcp.open(); n != 0 {
			return fmt.Errorf("got %d TCP connections open after the holders closed, want 0", n)
		}
		return nil
	})
	checkServes("after the flood")
}

// TestServer_TCPTimeouts: a connection that never asks is closed after the
// read timeout; one that asked and went quiet, after the idle timeout.
// Each case sets the other timeout long, so only the one under test acts.
func TestServer_TCPTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		read, idl time.Duration
		ask       bool
	}{
		{"silent from the start: read timeout", 200 * time.Millisecond, IdleTimeoutRange.Max, false},
		{"quiet after a query: idle timeout", time.Minute, 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ReadTimeout, cfg.IdleTimeout = tc.read, tc.idl
			srv := startServer(t, cfg, newView(testSnapshot()))
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.ask {
				co := &mdns.Conn{Conn: c}
				if err := co.WriteMsg(query("alpha.node.shoal.", mdns.TypeA, 0)); err != nil {
					t.Fatal(err)
				}
				if got, err := co.ReadMsg(); err != nil || len(got.Answer) != 1 {
					t.Fatalf("got %v, %v; want one answer", got, err)
				}
			}
			if err := closedByPeer(c, 30*time.Second); err != nil {
				t.Fatalf("server side: %v", err)
			}
			testutil.WaitFor(t, 10*time.Second, func() error {
				if n := srv.tcp.open(); n != 0 {
					return fmt.Errorf("got %d TCP connections tracked, want 0", n)
				}
				return nil
			})
		})
	}
}
