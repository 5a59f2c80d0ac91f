// Package agent is one shoal agent as a library: the gossip node, handler
// scripts, the HTTP API, DNS and rendering, wired together. It is the only
// package that knows them all.
//
// Who owns what: node owns gossip and memberlist (the agent reaches it
// through the small gossipNode interface and tunes it with node.Tuning);
// the agent owns the local node's tags (API changes, the tags file, reload),
// the lifecycle and the per-agent metrics registry; package cli owns
// signals and config files, and calls Reload and Leave, as Serf's command
// package drives its agent.
//
// Lifecycle: New validates and allocates (it binds the HTTP listener, so a
// busy port is reported before anything joins, and holds nothing else that
// needs closing); Run starts everything, owns every goroutine it starts,
// and returns after they stop; Close releases what New took when Run is
// never called. Several agents can run in one process.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// Agent is one shoal agent. Make it with New, run it with Run.
type Agent struct {
	node    gossipNode // *node.Node; tags change only through UpdateTags and Reload
	log     *slog.Logger
	hub     *logging.Hub
	reg     *metrics.Registry
	metrics *gossipMetrics // memberlist's go-metrics, routed to reg

	httpLn  net.Listener
	started atomic.Bool
	closed  sync.Once

	leaveCh chan error               // Leave finished: Run returns its error
	render  atomic.Pointer[renderer] // set once components start
	reloads *reloadGate              // coalesces reload events

	mu         sync.Mutex
	cfg        config.Config
	scripts    []handlers.Script
	runner     *handlers.Runner  // made by Run; nil before
	tagSet     map[string]string // tags set through the API, kept over reloads
	tagDel     map[string]bool   // tags deleted through the API
	components []component
	dns        *dnsComponent
	svc        *localServices // the service registry (services.go)
}

// New validates cfg and allocates an agent. It binds the HTTP listener
// last, so nothing needs undoing when that fails, and starts no goroutine.
// The logger and hub may be shared by several agents.
func New(cfg config.Config, logger *slog.Logger, hub *logging.Hub) (*Agent, error) {
	// Host names in bind and advertise, and -iface, become addresses
	// once, here: gossip binds once.
	if err := cfg.ResolveAddrs(context.Background(), net.DefaultResolver); err != nil {
		return nil, err
	}
	scripts, err := parseScripts(cfg.EventHandlers)
	if err != nil {
		return nil, err
	}
	a := &Agent{log: logger, hub: hub, cfg: cfg, scripts: scripts,
		leaveCh: make(chan error, 1), tagSet: map[string]string{}, tagDel: map[string]bool{}}
	if err := prepareDevKeyring(cfg, logger); err != nil {
		return nil, err
	}
	if err := a.restoreTags(); err != nil {
		return nil, err
	}
	a.reloads = newReloadGate(reloadEventInterval, a.fireReload)
	a.reg, a.metrics = newRegistry()
	if a.svc, err = newServices(cfg, logger, a.publishCatalog); err != nil {
		return nil, err
	}
	nc, err := nodeConfig(cfg, a.effectiveTags())
	if err != nil {
		return nil, err
	}
	nc.MetricLabels = a.metrics.labels()
	nc.Services, nc.NodeChecks = a.svc.initialCatalog()
	n, err := node.New(nc, logger)
	if err != nil {
		return nil, fmt.Errorf("gossip node: %w", err)
	}
	a.node = n
	if err := GossipTrustError(cfg, n.Encrypted()); err != nil {
		return nil, err
	}
	warnGossipTrust(cfg, n.Encrypted(), logger)
	warnDNSName(cfg.NodeName, logger)
	warnRejoinWithoutSnapshot(cfg.RejoinAfterLeave, cfg.SnapshotPath, logger)
	a.reg.Register(newNodeCollector(n.Stats), newRenderCollector(a.renderTotals))
	a.reg.Register(newTrustGauges(a.GossipSecurity)...)
	a.reg.Register(a.svc.metrics)
	if err := a.listenHTTP(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// listenHTTP binds the API's listener, the last step of New.
func (a *Agent) listenHTTP(cfg config.Config) error {
	if cfg.HTTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http api: %w (is another agent running? pick another -http-addr)", err)
	}
	a.httpLn = ln
	if host, _, _ := net.SplitHostPort(cfg.HTTPAddr); cfg.HTTPToken == "" && !net.ParseIP(host).IsLoopback() {
		a.log.Warn("the HTTP API listens beyond loopback without a token: anyone who reaches it controls the agent; set -http-token or SHOAL_HTTP_TOKEN", "http_addr", cfg.HTTPAddr)
	}
	return nil
}

// Close releases what New took (the HTTP listener) when Run will not be
// called. Run closes it itself; Close after Run is harmless.
func (a *Agent) Close() error {
	var err error
	a.closed.Do(func() {
		if a.httpLn != nil {
			err = a.httpLn.Close()
		}
	})
	return err
}

func parseScripts(specs []string) ([]handlers.Script, error) {
	out := make([]handlers.Script, 0, len(specs))
	for _, s := range specs {
		sc, err := handlers.ParseScript(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// self is the local node as handler scripts see it.
func (a *Agent) self() handlers.Self {
	return handlers.Self{Name: a.node.Name(), Tags: a.Tags()}
}

// Run starts gossip, handlers, the API, DNS and rendering, joins, and
// serves until ctx ends or Leave finishes. When ctx ends, the agent stops
// without leaving: peers see it fail, as after Serf's Shutdown (the CLI
// does that for SIGTERM without leave_on_terminate). To leave, call Leave.
// Run returns after everything it started has stopped, with the error
// that stopped it (a failed leave included), and can be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Cancel before waiting: DNS and rendering run until ctx ends.
	defer func() {
		cancel()
		wg.Wait()
	}()
	stopMetrics := a.metrics.start()
	defer stopMetrics()
	runner := a.startRunner()
	defer runner.Close()

	// Subscribe before Start so no event is missed.
	events, unsubscribe := a.node.Subscribe(256)
	defer unsubscribe()
	if err := a.node.Start(); err != nil {
		return fmt.Errorf("gossip node: %w", err)
	}
	defer func() {
		if err := a.node.Shutdown(); err != nil {
			a.log.Warn("node shutdown", "err", err)
		}
	}()
	defer a.svc.start(ctx)() // stopped before the node shuts down
	wg.Add(1)
	go func() { defer wg.Done(); a.dispatch(ctx, events, runner) }()

	fatal := make(chan error, 4)
	if stop := a.serveHTTP(ctx, &wg, fatal); stop != nil {
		defer stop()
	}
	if err := a.start(ctx, &wg, fatal); err != nil {
		return err
	}
	return a.wait(ctx, fatal)
}

// startRunner makes the handler runner with the scripts of the latest
// config (Reload may have changed them since New).
func (a *Agent) startRunner() *handlers.Runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := a.cfg
	a.runner = handlers.NewRunner(a.log.With("component", "handlers"), handlers.Options{
		Timeout:               cfg.HandlerTimeout,
		Queue:                 cfg.HandlerQueue,
		ResponseLimit:         queryResponseLimit(cfg),
		MemberQuiescentPeriod: cfg.MemberQuiescentPeriod,
		MemberCoalescePeriod:  cfg.MemberCoalescePeriod,
		Self:                  a.self,
		Metrics:               a.reg,
	})
	a.runner.SetScripts(a.scripts)
	return a.runner
}

// dispatch hands node events to the built-in handlers, then to scripts.
func (a *Agent) dispatch(ctx context.Context, events <-chan node.Event, runner *handlers.Runner) {
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			if a.builtin(e) {
				continue
			}
			runner.Handle(e)
		case <-ctx.Done():
			return
		}
	}
}

// start runs DNS and rendering, joins and starts discovery.
func (a *Agent) start(ctx context.Context, wg *sync.WaitGroup, fatal chan error) error {
	if err := a.startComponents(ctx, wg, fatal); err != nil {
		return err
	}
	if err := a.waitDNS(ctx, fatal); err != nil {
		return err
	}
	cfg := a.config()
	if len(cfg.Join) > 0 {
		n, err := a.node.Join(cfg.Join, cfg.ReplayOnJoin)
		if n == 0 {
			// node's error names the addresses and each one's reason.
			return fmt.Errorf("%w (is an agent running there? check -join)", err)
		}
		a.log.Info("joined", "contacted", n)
	}
	if len(cfg.RetryJoin) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); a.retryJoin(ctx, cfg, fatal) }()
	}
	if err := a.startDiscovery(ctx, wg, cfg); err != nil {
		return err
	}
	a.log.Info("agent running", "node", a.node.Name(), "gossip_addr", a.GossipAddr(),
		"http_addr", a.HTTPAddr(), "dns_addr", a.dnsAddr(), "version", buildinfo.Version)
	return nil
}

// wait blocks until the agent must stop.
func (a *Agent) wait(ctx context.Context, fatal <-chan error) error {
	select {
	case err := <-a.leaveCh:
		if err == nil {
			a.log.Info("left the cluster, stopping")
		}
		return err
	case err := <-fatal:
		return err
	case err := <-a.node.Fatal(): // lost a node name conflict
		return fmt.Errorf("gossip node: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Leave leaves the cluster gracefully, then makes Run return (SIGINT,
// and the API's /v1/leave). It returns when the leave is done or ctx
// ends; a leave that fails makes Run return its error.
func (a *Agent) Leave(ctx context.Context) error {
	if !a.started.Load() {
		return errors.New("leave: the agent is not running")
	}
	done := make(chan error, 1)
	// node.Leave is bounded by its leave timeout; this goroutine ends
	// then even if ctx ends first.
	go func() { done <- a.node.Leave() }()
	select {
	case err := <-done:
		select {
		case a.leaveCh <- err:
		default: // a Leave already ended Run
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Agent) startComponents(ctx context.Context, wg *sync.WaitGroup, fatal chan<- error) error {
	cfg := a.config()
	var comps []component
	for _, mk := range []func(config.Config) (component, error){a.newDNS, a.newRenderer} {
		c, err := mk(cfg)
		if err != nil {
			return err
		}
		if c != nil {
			comps = append(comps, c)
		}
	}
	a.mu.Lock()
	a.components = comps
	a.mu.Unlock()
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				fatal <- err
			}
		}()
	}
	return nil
}

func (a *Agent) config() config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// HTTPAddr is the API's bound address ("" when disabled).
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// GossipAddr is the gossip address peers reach this agent at (its real
// port once Run has started gossip).
func (a *Agent) GossipAddr() string {
	ip, port := a.node.LocalAddr()
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// DNSAddr is the DNS server's bound address once it listens ("" when DNS
// is off).
func (a *Agent) DNSAddr() string { return a.dnsAddr() }

// Registry is the agent's own metrics registry (GET /metrics).
func (a *Agent) Registry() *metrics.Registry { return a.reg }
