package api

import (
	"log/slog"
	"net"
	"net/netip"
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
// A connection past a cap is closed at once rather than queued, so one
// client holding many connections cannot starve the others (a load
// balancer's /v1/health probe among them), and the agent's file
// descriptors stay bounded by the caps.
//
// Accept errors pass through unchanged: http.Server backs off on
// temporary ones (EMFILE, ENFILE) from 5 ms up to 1 s instead of spinning.
type LimitedListener struct {
	net.Listener
	lim ConnLimits
	log *slog.Logger

	mu      sync.Mutex
	open    int
	perIP   map[netip.Addr]int
	lastLog time.Time

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

// Accept returns the next connection within the caps and closes those
// past them.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c.RemoteAddr())
		if l.admit(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
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

func (l *LimitedListener) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var reason string
	switch {
	case l.lim.Total > 0 && l.open >= l.lim.Total:
		l.refusedTotal.Add(1)
		reason = "http_max_conns"
	case l.lim.PerClient > 0 && l.perIP[ip] >= l.lim.PerClient:
		l.refusedClient.Add(1)
		reason = "http_max_conns_per_client"
	default:
		l.open++
		l.perIP[ip]++
		return true
	}
	if now := time.Now(); now.Sub(l.lastLog) >= refusalLogEvery {
		l.lastLog = now
		l.log.Warn("HTTP API connection refused: cap reached (logged at most every "+refusalLogEvery.String()+")",
			"cap", reason, "client", ip.String(), "open", l.open, "client_open", l.perIP[ip],
			"refused_total", l.refusedTotal.Load(), "refused_per_client", l.refusedClient.Load())
	}
	return false
}

func (l *LimitedListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// ConnStats is what the listener counted.
type ConnStats struct {
	Open          int
	RefusedTotal  uint64 // past http_max_conns
	RefusedClient uint64 // past http_max_conns_per_client
}

// Stats returns the current counts.
func (l *LimitedListener) Stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ConnStats{Open: l.open, RefusedTotal: l.refusedTotal.Load(), RefusedClient: l.refusedClient.Load()}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
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
