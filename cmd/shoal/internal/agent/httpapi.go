package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/metrics"
)

// Bounds on the HTTP API's connections, so a slow or idle client cannot
// hold one for ever. The caps on their number are config keys
// (http_max_conns, http_max_conns_per_client).
const (
	// httpReadHeaderTimeout bounds reading a request's headers.
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout bounds reading a whole request, body included.
	// net/http lifts it once the body is read (its background read, which
	// watches for the client going away, clears the deadline), so
	// /v1/monitor and /v1/query stream for as long as they need; api's
	// TestServer_StreamsOutliveReadTimeout holds that. Streams are also
	// why there is no WriteTimeout.
	httpReadTimeout = 30 * time.Second
	// httpIdleTimeout closes a kept-alive connection with no request.
	httpIdleTimeout = 60 * time.Second
	// httpMaxHeaderBytes: the API's requests have a few short headers.
	httpMaxHeaderBytes = 64 << 10
)

// serveHTTP serves the API on the listener New bound, until ctx ends; the
// returned func stops it (nil when the API is off).
func (a *Agent) serveHTTP(ctx context.Context, wg *sync.WaitGroup, fatal chan<- error) func() {
	if a.httpLn == nil {
		return nil
	}
	// Shutdown waits for every handler to return, and a stream (monitor,
	// query) returns only when its request's context ends: end the
	// requests' contexts first, so a leave does not wait out the shutdown
	// timeout behind an attached monitor and then cut it mid-stream.
	reqCtx, endRequests := context.WithCancel(ctx)
	srv, ln := a.newHTTPServer(reqCtx)
	srv.RegisterOnShutdown(endRequests)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fatal <- fmt.Errorf("http api: %w", err)
		}
	}()
	return func() {
		defer endRequests()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}
}

// newHTTPServer builds the API server and the capped listener it serves.
// Requests' contexts derive from ctx.
func (a *Agent) newHTTPServer(ctx context.Context) (*http.Server, net.Listener) {
	cfg := a.config()
	log := a.log.With("component", "api")
	ln := api.LimitListener(a.httpLn, api.ConnLimits{Total: cfg.HTTP.MaxConns, PerClient: cfg.HTTP.MaxConnsPerClient}, log)
	a.reg.Register(newConnCollector(ln.Stats))
	srv := &http.Server{
		Handler:           a.Handler(),
		ConnContext:       ln.ConnContext,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return srv, ln
}

// Handler is the agent's API handler with its trust rules, as the
// agent's own listener serves it (tests can serve it with httptest).
func (a *Agent) Handler() http.Handler {
	cfg := a.config()
	return api.Track(api.NewServer(a, a.log.With("component", "api"), a.hub, a.reg, api.Options{Token: cfg.HTTPToken, AllowedHosts: cfg.HTTP.AllowedHosts, Services: a.svc}))
}

// connCollector reads the API listener's counts at scrape time.
type connCollector struct {
	stats   func() api.ConnStats
	open    *metrics.Desc
	refused *metrics.Desc
	evicted *metrics.Desc
}

func newConnCollector(stats func() api.ConnStats) *connCollector {
	return &connCollector{
		stats:   stats,
		open:    metrics.NewDesc("shoal_http_connections_open", "Open connections to the HTTP API.", metrics.GaugeKind),
		refused: metrics.NewDesc("shoal_http_connections_refused_total", "HTTP API connections closed at once because a cap was reached with every connection busy, by the config key of the cap.", metrics.CounterKind, "cap"),
		evicted: metrics.NewDesc("shoal_http_connections_evicted_total", "Idle HTTP API connections closed to make room for a new one at a cap.", metrics.CounterKind),
	}
}

func (c *connCollector) Collect(s *metrics.Scrape) {
	st := c.stats()
	s.Add(c.open, float64(st.Open))
	s.Add(c.refused, float64(st.RefusedTotal), "http_max_conns")
	s.Add(c.refused, float64(st.RefusedClient), "http_max_conns_per_client")
	s.Add(c.evicted, float64(st.Evicted))
}
