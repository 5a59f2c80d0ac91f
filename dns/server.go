package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/node"
)

// View is what the server needs from the node: the current membership and
// a signal when it changes. *node.Node satisfies it.
type View interface {
	// Snapshot returns the current, immutable membership.
	Snapshot() *node.Snapshot
	// Watch returns a capacity-1 channel that receives after each change,
	// and a function that stops the watch.
	Watch() (<-chan struct{}, func())
}

// Server answers DNS queries over UDP and TCP from a View.
type Server struct {
	cfg     Config // as New got it; Reload changes the handler's copy
	view    View
	logger  *slog.Logger
	handler *handler

	running atomic.Bool
	started chan struct{}
	addr    atomic.Pointer[string]
	// tcpMu orders Run's creation of tcp with Reload's change of its cap.
	tcpMu sync.Mutex
	tcp   *tcpListener // set before started is closed
}

// New validates cfg and returns a server that is not yet listening.
func New(cfg Config, view View, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	if view == nil {
		return nil, errors.New("dns: nil view")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := newHandler(cfg, logger)
	// Ready whenever the view has coordinates, since a reload may turn
	// near_sort on; the setting decides per query.
	h.near = newNearSorter(view)
	return &Server{
		cfg:     cfg,
		view:    view,
		logger:  logger,
		handler: h,
		started: make(chan struct{}),
	}, nil
}

// Started is closed once the server serves both UDP and TCP; Addr is valid
// from then on.
func (s *Server) Started() <-chan struct{} { return s.started }

// Addr returns the bound host:port, shared by UDP and TCP, or "" before
// the server started.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Run serves until ctx is cancelled and returns after every goroutine it
// started has exited. It can be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dns: server already ran")
	}
	// Watch before the first snapshot, so no change falls between them.
	changed, stopWatch := s.view.Watch()
	defer stopWatch()
	s.handler.ctx = ctx
	s.handler.update(s.view.Snapshot())

	host, _, _ := net.SplitHostPort(s.cfg.Addr) // validated by New
	wildcard := isWildcard(host)
	sockets, loopsEach := udpLayout()
	if wildcard {
		sockets = 1
	}
	pcs, ln, err := listen(s.cfg.Addr, sockets)
	if err != nil {
		return err
	}
	s.addr.Store(new(ln.Addr().String()))
	s.tcpMu.Lock()
	s.tcp = newTCPListener(ln, s.handler.current().TCPMaxConns, s.logger)
	s.tcpMu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { s.follow(ctx, changed) })

	udpSize := max(s.cfg.MaxUDPSize, 4096)
	var wildcardPC *net.UDPConn
	if wildcard {
		wildcardPC = pcs[0]
	}
	servers := s.mdnsServers(wildcardPC, udpSize)
	notify := make(chan struct{}, len(servers))
	errc := make(chan error, len(servers)+len(pcs)*loopsEach)
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { notify <- struct{}{} }
		wg.Go(func() { errc <- srv.ActivateAndServe() })
	}
	if !wildcard {
		// The sockets are bound, so datagrams queue until the loops read.
		for _, pc := range pcs {
			for range loopsEach {
				wg.Go(func() {
					if err := s.handler.serveUDP(pc, udpSize, goGroup(&wg)); err != nil {
						errc <- err
					}
				})
			}
		}
	}

	// Shutdown needs both servers started: ShutdownContext refuses a server
	// that has not, and that server would then serve forever.
	runErr := awaitStart(len(servers), notify, errc)
	if runErr == nil {
		close(s.started)
		set := s.handler.current()
		s.logger.Info("dns: serving", "addr", s.Addr(), "domain", set.domain, "alt_domain", set.altDomain)
		select {
		case <-ctx.Done():
		case err := <-errc:
			runErr = fmt.Errorf("dns: server stopped: %w", err)
		}
	}
	// ShutdownContext waits for in-flight handlers; forwarding is bound to
	// ctx and every read and write has a deadline, so this is bounded.
	// Closing the sockets ends the UDP loops.
	for _, srv := range servers {
		_ = srv.ShutdownContext(context.Background())
	}
	for _, pc := range pcs {
		pc.Close()
	}
	s.tcp.Close()
	wg.Wait()
	return runErr
}

// awaitStart waits until n servers have started, or returns the error the
// first to fail stopped with.
func awaitStart(n int, notify <-chan struct{}, errc <-chan error) error {
	for ; n > 0; n-- {
		select {
		case <-notify:
		case err := <-errc:
			return fmt.Errorf("dns: server stopped while starting: %w", err)
		}
	}
	return nil
}

// mdnsServers returns the mdns.Servers to run: TCP from s.tcp, and UDP
// on pc when it is not nil (a wildcard address, see udp.go).
func (s *Server) mdnsServers(pc *net.UDPConn, udpSize int) []*mdns.Server {
	servers := []*mdns.Server{{
		Listener: s.tcp,
		// A connection may ask any number of queries (RFC 7766 section
		// 6.2.1); the idle timeout and the cap bound what it holds.
		IdleTimeout:   func() time.Duration { return s.handler.current().IdleTimeout },
		MaxTCPQueries: -1,
	}}
	if pc != nil {
		servers = append(servers, &mdns.Server{PacketConn: pc, UDPSize: udpSize})
	}
	for _, srv := range servers {
		srv.Handler = s.handler
		srv.ReadTimeout = s.cfg.ReadTimeout
		srv.WriteTimeout = s.cfg.WriteTimeout
		srv.MsgAcceptFunc = acceptRequest
	}
	return servers
}

// Reload applies cfg to the running server without closing its sockets:
// queries already being answered finish with the old settings, every later
// one gets the new. The listeners stay as they are, so a change of Addr,
// ReadTimeout or WriteTimeout is not applied; restart names those fields,
// for the caller to report. An invalid cfg changes nothing.
func (s *Server) Reload(cfg Config) (restart []string, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	if cfg.Addr != s.cfg.Addr {
		restart = append(restart, "addr")
	}
	if cfg.ReadTimeout != s.cfg.ReadTimeout || cfg.WriteTimeout != s.cfg.WriteTimeout {
		restart = append(restart, "read/write timeout")
	}
	s.handler.reload(cfg)
	s.tcpMu.Lock()
	if s.tcp != nil {
		s.tcp.setMax(cfg.TCPMaxConns)
	}
	s.tcpMu.Unlock()
	set := s.handler.current()
	s.logger.Debug("dns: settings reloaded", "domain", set.domain, "alt_domain", set.altDomain)
	return restart, nil
}

// follow rebuilds the index on every membership change until ctx ends.
func (s *Server) follow(ctx context.Context, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changed:
			if !ok {
				return
			}
			snap := s.view.Snapshot()
			s.handler.update(snap)
			s.logger.Debug("dns: membership changed", "version", snap.Version)
		}
	}
}

// listen binds UDP (on sockets sockets, see listenUDP) and TCP on the same
// address. With port 0 the TCP port follows the one the kernel gave UDP;
// another process may hold that TCP port, so a few ports are tried.
func listen(addr string, sockets int) ([]*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen %q: %w", addr, err)
	}
	var lastErr error
	for range 10 {
		pcs, err := listenUDP(addr, sockets)
		if err != nil {
			return nil, nil, err
		}
		_, bound, _ := net.SplitHostPort(pcs[0].LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return pcs, ln, nil
		}
		for _, pc := range pcs {
			pc.Close()
		}
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, lastErr)
}

// acceptRequest replaces mdns.DefaultMsgAcceptFunc: it also rejects NOTIFY
// (we are nobody's secondary) and tells malformed requests apart before
// they are fully parsed.
func acceptRequest(h mdns.Header) mdns.MsgAcceptAction {
	const qr = 1 << 15
	if h.Bits&qr != 0 {
		return mdns.MsgIgnore
	}
	if opcode := int(h.Bits>>11) & 0xF; opcode != mdns.OpcodeQuery {
		return mdns.MsgRejectNotImplemented
	}
	// One question; queries carry no answer or authority records, and at
	// most an OPT and a TSIG record in the additional section.
	if h.Qdcount != 1 || h.Ancount != 0 || h.Nscount != 0 || h.Arcount > 2 {
		return mdns.MsgReject
	}
	return mdns.MsgAccept
}
