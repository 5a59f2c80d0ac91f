package api_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// capped serves a LimitedListener on 127.0.0.1 and hands out the
// connections it admits.
type capped struct {
	ln       *api.LimitedListener
	admitted chan net.Conn
}

func newCapped(t *testing.T, lim api.ConnLimits) *capped {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &capped{ln: api.LimitListener(inner, lim, slog.New(slog.NewTextHandler(io.Discard, nil))), admitted: make(chan net.Conn, 64)}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
			c.admitted <- conn
		}
	}()
	t.Cleanup(func() {
		c.ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range held {
			conn.Close()
		}
	})
	return c
}

// dialFrom connects from the loopback address src (any of 127/8 is local).
func (c *capped) dialFrom(t *testing.T, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", c.ln.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// admit waits for the listener to hand out the next connection.
func (c *capped) admit(t *testing.T, what string) net.Conn {
	t.Helper()
	select {
	case conn := <-c.admitted:
		return conn
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not admitted; stats %+v", what, c.ln.Stats())
		return nil
	}
}

// refused waits for the server side to close conn: a read sees EOF or a
// reset, never data or a timeout.
func refused(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("%s: got read %d, %v; want the connection closed at once", what, n, err)
	}
}

// TestLimitListener_EvictsOldestIdleAtCap: at a cap a new connection
// takes the place of the oldest idle one (of its client at the per-client
// cap, of anyone at the total cap), and a slot is given back once however
// often a connection is closed.
func TestLimitListener_EvictsOldestIdleAtCap(t *testing.T) {
	c := newCapped(t, api.ConnLimits{Total: 4, PerClient: 2})

	first := c.dialFrom(t, "127.0.0.2")
	c.admit(t, "first from .2")
	second := c.dialFrom(t, "127.0.0.2")
	c.admit(t, "second from .2")
	c.dialFrom(t, "127.0.0.2")
	c.admit(t, "third from .2, past the per-client cap 2")
	refused(t, first, "first from .2 (the oldest idle of its client)")
	if st := c.ln.Stats(); st.Open != 2 || st.Evicted != 1 || st.RefusedClient != 0 {
		t.Errorf("after the per-client cap: got %+v, want 2 open, 1 evicted, none refused", st)
	}

	// Other clients get in up to the total, then evict the oldest of all.
	c.dialFrom(t, "127.0.0.3")
	c3 := c.admit(t, "first from .3")
	c.dialFrom(t, "127.0.0.4")
	c.admit(t, "first from .4")
	c.dialFrom(t, "127.0.0.5")
	c.admit(t, "first from .5, past the total cap 4")
	refused(t, second, "second from .2 (the oldest idle connection)")
	if st := c.ln.Stats(); st.Open != 4 || st.Evicted != 2 || st.RefusedTotal != 0 {
		t.Errorf("after the total cap: got %+v, want 4 open, 2 evicted", st)
	}

	// Closing gives the slot back, once however often Close is called.
	c3.Close()
	c3.Close()
	if st := c.ln.Stats(); st.Open != 3 {
		t.Errorf("after a close: got %+v, want 3 open", st)
	}
}

// trackedServer serves HTTP through a LimitedListener with Track, as the
// agent does: /block holds its connection busy until release is closed.
func trackedServer(t *testing.T, lim api.ConnLimits) (addr string, ln *api.LimitedListener, release chan struct{}) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = api.LimitListener(inner, lim, slog.New(slog.NewTextHandler(io.Discard, nil)))
	release = make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-release
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := &http.Server{Handler: api.Track(mux), ConnContext: ln.ConnContext, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		srv.Close()
	})
	return ln.Addr().String(), ln, release
}

// clientFrom is an HTTP client whose connections come from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// TestLimitListener_BusyAreNeverEvicted: a connection a handler is
// serving (a stream, a slow answer) is never closed to make room; with
// every connection of a client busy, its next one is closed at once.
func TestLimitListener_BusyAreNeverEvicted(t *testing.T) {
	addr, ln, release := trackedServer(t, api.ConnLimits{Total: 8, PerClient: 2})
	client := clientFrom("127.0.0.2")
	var bodies []io.Closer
	for i := 0; i < 2; i++ {
		resp, err := client.Get("http://" + addr + "/block")
		if err != nil {
			t.Fatalf("busy request %d: %v", i, err)
		}
		bodies = append(bodies, resp.Body)
	}
	if _, err := client.Get("http://" + addr + "/health"); err == nil {
		t.Fatal("a third request from .2 with both its connections busy: got an answer, want the connection closed")
	}
	if st := ln.Stats(); st.RefusedClient != 1 || st.Evicted != 0 {
		t.Errorf("got %+v, want 1 refused per client, 0 evicted", st)
	}
	close(release)
	for _, b := range bodies {
		_, _ = io.Copy(io.Discard, b.(io.Reader))
		b.Close()
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		resp, err := client.Get("http://" + addr + "/health")
		if err != nil {
			return fmt.Errorf("health from .2 after the busy ones finished: %w", err)
		}
		resp.Body.Close()
		return nil
	})
}

// TestLimitListener_FloodLeavesRoomForOthers: one client opening 1,000
// idle connections holds only its cap, and a request, from another client
// or from the flooding address itself, is still answered.
func TestLimitListener_FloodLeavesRoomForOthers(t *testing.T) {
	addr, ln, _ := trackedServer(t, api.ConnLimits{Total: 512, PerClient: 64})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for i := 0; i < 1000; i++ {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood dial %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		_, _ = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x") // never finished
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if st := ln.Stats(); st.Open+int(st.Evicted) != 1000 {
			return fmt.Errorf("got %+v, want 1000 open or evicted", st)
		}
		return nil
	})
	if st := ln.Stats(); st.Open != 64 || st.Evicted != 936 {
		t.Errorf("got %+v, want 64 open and 936 evicted", st)
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		resp, err := clientFrom(src).Get("http://" + addr + "/health")
		if err != nil {
			t.Fatalf("health from %s during the flood: %v", src, err)
		}
		resp.Body.Close()
	}
}

// emfileListener fails Accept with EMFILE, as a process out of file
// descriptors does, and records when it was called.
type emfileListener struct {
	net.Listener // Addr only
	mu           sync.Mutex
	calls        []time.Time
	failures     int
	closed       chan struct{}
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	n := len(l.calls)
	l.mu.Unlock()
	if n <= l.failures {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *emfileListener) Close() error { close(l.closed); return nil }

// TestLimitListener_AcceptErrorBackoff: the wrapper passes EMFILE through
// unchanged, so http.Server treats it as temporary and backs off
// (5 ms, doubling, up to 1 s) instead of spinning. The gaps between
// attempts are lower bounds (a sleep lasts at least its duration), which
// a loaded machine cannot break.
func TestLimitListener_AcceptErrorBackoff(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	fake := &emfileListener{Listener: inner, failures: 7, closed: make(chan struct{})}
	ln := api.LimitListener(fake, api.ConnLimits{Total: 1, PerClient: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if _, err := ln.Accept(); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Accept: got %v, want EMFILE passed through", err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	testutil.WaitFor(t, 30*time.Second, func() error {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.calls) <= fake.failures {
			return fmt.Errorf("got %d accept calls, want %d", len(fake.calls), fake.failures+1)
		}
		return nil
	})
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: got %v, want ErrServerClosed (EMFILE must not end it)", err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// calls[0] was the direct Accept above; Serve's start at calls[1].
	want := 5 * time.Millisecond
	for i := 2; i < len(fake.calls); i++ {
		if gap := fake.calls[i].Sub(fake.calls[i-1]); gap < want {
			t.Errorf("accept attempt %d came %v after the previous, want at least %v (backoff)", i, gap, want)
		}
		want *= 2
	}
}
