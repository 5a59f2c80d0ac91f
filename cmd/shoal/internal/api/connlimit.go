package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimits cap the API's concurrent connections.
type ConnLimits struct {
	Total     int // every client together
	PerClient int // one client IP address
}

// LimitedListener caps concurrent connections in total and per client IP.
// At a cap, a new connection takes the place of the oldest connection
// that no handler is serving (one idle between requests, or one that
// never finished sending its request: a slowloris); only when every
// connection is being served is the new one closed at once. Closing the
// oldest rather than the newest matters because a flood's connections are
// always older than a real client's, which asks right after it connects:
// a /v1/health probe gets in even from the address a flood comes from,
// and the agent's file descriptors stay bounded by the caps. Handlers
// mark their connection busy through Track.
//
// Accept errors pass through unchanged: http.Server backs off on
// temporary ones (EMFILE, ENFILE) from 5 ms up to 1 s instead of spinning.
type LimitedListener struct {
	net.Listener
	lim ConnLimits
	log *slog.Logger

	mu      sync.Mutex
	perIP   map[netip.Addr]int
	conns   []*limitedConn // open connections, oldest first
	lastLog time.Time
	evicted atomic.Uint64 // idle connections closed to make room

	refusedTotal  atomic.Uint64 // closed because of the total cap
	refusedClient atomic.Uint64 // closed because of the per-client cap
}

// refusalLogEvery spaces the warnings about refused connections: a flood
// must not turn into a flood of log lines.
const refusalLogEvery = 10 * time.Second

// LimitListener wraps ln. A cap <= 0 means no cap.
func LimitListener(ln net.Listener, lim ConnLimits, logger *slog.Logger) *LimitedListener {
	return &LimitedListener{Listener: ln, lim: lim, log: logger, perIP: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps, making room by
// closing the oldest idle connection where a cap is reached.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l, ip: clientIP(c.RemoteAddr())}
		admitted, victim := l.admit(lc)
		if victim != nil {
			victim.Conn.Close() // its slot was already given to lc
		}
		if admitted {
			return lc, nil
		}
		c.Close()
	}
}

func clientIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{} // not TCP: all such clients share one count
}

// admit takes a slot for c, evicting the oldest idle connection (of c's
// client at the per-client cap, of anyone at the total cap) when a cap is
// reached. The victim, if any, is to be closed by the caller, outside the
// lock.
func (l *LimitedListener) admit(c *limitedConn) (bool, *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var reason string
	var victim *limitedConn
	switch {
	case l.lim.Total > 0 && len(l.conns) >= l.lim.Total:
		if victim = l.oldestIdle(func(*limitedConn) bool { return true }); victim == nil {
			l.refusedTotal.Add(1)
			reason = "http_max_conns"
		}
	case l.lim.PerClient > 0 && l.perIP[c.ip] >= l.lim.PerClient:
		if victim = l.oldestIdle(func(o *limitedConn) bool { return o.ip == c.ip }); victim == nil {
			l.refusedClient.Add(1)
			reason = "http_max_conns_per_client"
		}
	}
	if reason == "" {
		if victim != nil {
			victim.once.Do(func() { l.forget(victim) })
			l.evicted.Add(1)
		}
		l.perIP[c.ip]++
		l.conns = append(l.conns, c)
		return true, victim
	}
	if now := time.Now(); now.Sub(l.lastLog) >= refusalLogEvery {
		l.lastLog = now
		l.log.Warn("HTTP API connection refused: cap reached and every connection busy (logged at most every "+refusalLogEvery.String()+")",
			"cap", reason, "client", c.ip.String(), "open", len(l.conns), "client_open", l.perIP[c.ip],
			"refused_total", l.refusedTotal.Load(), "refused_per_client", l.refusedClient.Load(), "evicted_idle", l.evicted.Load())
	}
	return false, nil
}

// oldestIdle returns the oldest connection that match accepts and no
// handler is serving. Called with l.mu held.
func (l *LimitedListener) oldestIdle(match func(*limitedConn) bool) *limitedConn {
	for _, o := range l.conns {
		if o.busy.Load() == 0 && match(o) {
			return o
		}
	}
	return nil
}

// forget drops c from the counts. Called with l.mu held, once per c.
func (l *LimitedListener) forget(c *limitedConn) {
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
	if i := slices.Index(l.conns, c); i >= 0 {
		l.conns = slices.Delete(l.conns, i, i+1)
	}
}

type connKey struct{}

// ConnContext is http.Server's ConnContext hook: it lets Track find the
// connection a request came in on.
func (l *LimitedListener) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// Track marks a request's connection busy while h serves it, so the cap
// never closes a connection in the middle of an answer (a /v1/monitor or
// /v1/query stream included).
func Track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
			lc.busy.Add(1)
			defer lc.busy.Add(-1)
		}
		h.ServeHTTP(w, r)
	})
}

func (l *LimitedListener) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(c)
}

// ConnStats is what the listener counted.
type ConnStats struct {
	Open          int
	RefusedTotal  uint64 // past http_max_conns, every connection busy
	RefusedClient uint64 // past http_max_conns_per_client, every one busy
	Evicted       uint64 // idle connections closed to make room at a cap
}

// Stats returns the current counts.
func (l *LimitedListener) Stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ConnStats{Open: len(l.conns), RefusedTotal: l.refusedTotal.Load(), RefusedClient: l.refusedClient.Load(), Evicted: l.evicted.Load()}
}

// limitedConn gives its slot back once, on the first Close (or when it
// is evicted).
type limitedConn struct {
	net.Conn
	l    *LimitedListener
	ip   netip.Addr
	busy atomic.Int32 // handlers serving a request on it
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// CloseWrite lets http.Server half-close before it closes a connection
// after an error answer, so the client reads the answer rather than a
// reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
