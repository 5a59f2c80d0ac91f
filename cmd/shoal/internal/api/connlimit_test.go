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

func TestLimitListener_Caps(t *testing.T) {
	c := newCapped(t, api.ConnLimits{Total: 4, PerClient: 2})

	c.dialFrom(t, "127.0.0.2")
	c.admit(t, "first from .2")
	c.dialFrom(t, "127.0.0.2")
	c.admit(t, "second from .2")
	refused(t, c.dialFrom(t, "127.0.0.2"), "third from .2 (per-client cap 2)")
	if st := c.ln.Stats(); st.Open != 2 || st.RefusedClient != 1 || st.RefusedTotal != 0 {
		t.Errorf("after the per-client cap: got %+v, want 2 open, 1 refused per client", st)
	}

	// Other clients still get in, up to the total.
	c.dialFrom(t, "127.0.0.3")
	c3 := c.admit(t, "first from .3")
	c.dialFrom(t, "127.0.0.4")
	c.admit(t, "first from .4")
	refused(t, c.dialFrom(t, "127.0.0.5"), "first from .5 (total cap 4)")
	if st := c.ln.Stats(); st.Open != 4 || st.RefusedTotal != 1 {
		t.Errorf("after the total cap: got %+v, want 4 open, 1 refused in total", st)
	}

	// Closing gives the slot back, once however often Close is called.
	c3.Close()
	c3.Close()
	if st := c.ln.Stats(); st.Open != 3 {
		t.Errorf("after a close: got %+v, want 3 open", st)
	}
	c.dialFrom(t, "127.0.0.5")
	c.admit(t, "first from .5 after a slot freed")
	refused(t, c.dialFrom(t, "127.0.0.6"), "first from .6 (total cap 4 again)")
}

// TestLimitListener_FloodLeavesRoomForOthers: one client opening 1,000
// connections holds only its cap; another client is still admitted.
func TestLimitListener_FloodLeavesRoomForOthers(t *testing.T) {
	c := newCapped(t, api.ConnLimits{Total: 512, PerClient: 64})
	for i := 0; i < 1000; i++ {
		c.dialFrom(t, "127.0.0.2")
	}
	// Every one of the 1,000 is either admitted or refused.
	testutil.WaitFor(t, 30*time.Second, func() error {
		if st := c.ln.Stats(); st.Open+int(st.RefusedClient) != 1000 {
			return fmt.Errorf("got %+v, want 1000 open or refused", st)
		}
		return nil
	})
	if st := c.ln.Stats(); st.Open != 64 || st.RefusedClient != 936 {
		t.Errorf("got %+v, want 64 open and 936 refused", st)
	}
	for i := 0; i < 64; i++ {
		c.admit(t, "flood")
	}
	c.dialFrom(t, "127.0.0.1")
	c.admit(t, "another client during the flood")
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
