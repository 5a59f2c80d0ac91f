package dns

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tcpListener is the listener mdns.Server serves TCP from. It bounds the
// connections open at once and never lets Accept spin.
//
// At the cap, a new connection takes the place of the one that has waited
// longest for its next query, which is closed (RFC 7766 section 6.2.3 lets
// a server close idle connections; its clients retry on a new one). Only
// when every connection is in the middle of a query is the new one closed
// at once. Accepting and closing, rather than not accepting, keeps the
// kernel's backlog drained, so a client is told at once instead of timing
// out; and replacing the longest-idle connection means a flood of held
// connections cannot keep a new client out: the flood's connections are
// older than the client's, which sends its query right after connecting.
//
// Accept errors other than a closed listener (EMFILE, ENFILE, ECONNABORTED,
// ENOBUFS...) are retried after a pause that doubles from 5 ms to 1 s, so
// running out of file descriptors costs almost no CPU. mdns.Server would
// retry at once and return on the others, which would stop TCP for good.
type tcpListener struct {
	net.Listener
	max    atomic.Int64 // a reload may move it (setMax)
	logger *slog.Logger
	start  time.Time // idle times count from here, on the monotonic clock

	closed    chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	conns map[*tcpConn]struct{}

	// Counters for tests and logs, and when to log them next.
	evicted, refused, acceptErrors atomic.Uint64
	logFull, logErr                every
}

const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

func newTCPListener(ln net.Listener, max int, logger *slog.Logger) *tcpListener {
	l := &tcpListener{
		Listener: ln,
		logger:   logger,
		start:    time.Now(),
		logFull:  every{period: 10 * time.Second},
		logErr:   every{period: 10 * time.Second},
		closed:   make(chan struct{}),
		conns:    make(map[*tcpConn]struct{}, max),
	}
	l.max.Store(int64(max))
	return l
}

// setMax moves the cap. Lowering it closes nothing at once: connections
// over the new cap end with their idle timeout, and meanwhile each new
// connection replaces one, so the count never grows past the old one.
func (l *tcpListener) setMax(max int) { l.max.Store(int64(max)) }

// Accept returns the next connection that fits under the cap.
func (l *tcpListener) Accept() (net.Conn, error) {
	var delay time.Duration
	failures := 0
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			failures++
			if total := l.acceptErrors.Add(1); l.logErr.allow() {
				l.logger.Warn("dns: cannot accept TCP connections; retrying with back-off",
					"err", err, "failed_accepts", total)
			}
			delay = min(max(2*delay, minAcceptBackoff), maxAcceptBackoff)
			if !l.pause(delay) {
				return nil, net.ErrClosed
			}
			continue
		}
		if failures > 0 {
			l.logger.Debug("dns: accepting TCP connections again", "failed_accepts", failures)
			failures, delay = 0, 0
		}
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// pause waits for d, and returns false when the listener is closed first.
func (l *tcpListener) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.closed:
		return false
	}
}

// admit tracks c, making room by closing the longest-idle connection when
// the cap is reached, or closes c and returns nil when there is no room.
func (l *tcpListener) admit(c net.Conn) *tcpConn {
	tc := &tcpConn{Conn: c, l: l}
	tc.idleSince.Store(l.now())
	l.mu.Lock()
	var victim *tcpConn
	if max := int(l.max.Load()); len(l.conns) >= max {
		victim = l.longestIdle()
		if victim == nil {
			l.mu.Unlock()
			// Counted before the close, so whoever sees the close sees it counted.
			total := l.refused.Add(1)
			c.Close()
			if l.logFull.allow() {
				l.logger.Warn("dns: TCP connections at their cap and all busy; closing new ones",
					"max", max, "refused", total, "evicted", l.evicted.Load())
			}
			return nil
		}
		delete(l.conns, victim)
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	if victim != nil {
		// Its goroutine in mdns.Server sees the read fail and ends.
		victim.Close()
		if total := l.evicted.Add(1); l.logFull.allow() {
			l.logger.Warn("dns: TCP connections at their cap; closing the longest idle for new ones",
				"max", l.max.Load(), "evicted", total, "refused", l.refused.Load())
		}
	}
	return tc
}

// longestIdle returns the connection that has waited longest for a query,
// or nil when none is waiting. l.mu is held.
func (l *tcpListener) longestIdle() *tcpConn {
	var oldest *tcpConn
	var since int64
	for c := range l.conns {
		if !c.reading.Load() {
			continue // a query is being answered
		}
		if s := c.idleSince.Load(); oldest == nil || s < since {
			oldest, since = c, s
		}
	}
	return oldest
}

// open returns how many connections are open.
func (l *tcpListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *tcpListener) forget(c *tcpConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *tcpListener) now() int64 { return int64(time.Since(l.start)) }

// Close stops Accept, including one waiting out a back-off. Open
// connections stay open: mdns.Server closes them on shutdown.
func (l *tcpListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// tcpConn is a connection the listener tracks: whether mdns.Server is
// waiting for it to send (reading), and since when it has had nothing to
// answer (idleSince: accepted, or the last response written).
type tcpConn struct {
	net.Conn
	l         *tcpListener
	reading   atomic.Bool
	idleSince atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

func (c *tcpConn) Read(b []byte) (int, error) {
	c.reading.Store(true)
	n, err := c.Conn.Read(b)
	c.reading.Store(false)
	return n, err
}

func (c *tcpConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.idleSince.Store(c.l.now())
	return n, err
}

// Close frees the connection's place under the cap; it may be called more
// than once (by the listener evicting it, then by mdns.Server).
func (c *tcpConn) Close() error {
	c.closeOnce.Do(func() {
		c.l.forget(c)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}
