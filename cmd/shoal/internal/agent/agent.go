// Package agent wires one shoal agent together: the gossip node, handler
// scripts, the HTTP API, DNS and rendering, signals and reloads. It is the
// only package that knows them all.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/node"
)

// Agent is a running shoal agent. New allocates and binds the HTTP
// listener; Run starts gossip and blocks until the agent exits.
type Agent struct {
	*node.Node // the API's cluster operations are the node's

	flags *config.Flags
	log   *slog.Logger
	hub   *logging.Hub
	reg   *prometheus.Registry

	httpLn  net.Listener
	httpSrv *http.Server
	runner  *handlers.Runner

	leaveCh chan struct{}            // the API asked the agent to leave and exit
	render  atomic.Pointer[renderer] // set once components start
	reloads *reloadGate              // coalesces reload events

	mu         sync.Mutex
	cfg        config.Config
	tagSet     map[string]string // tags set through the API, kept over reloads
	tagDel     map[string]bool   // tags deleted through the API
	components []component
	dns        *dnsComponent
	svc        *localServices // the service registry (services.go)
}

// New validates what it can and binds the HTTP listener, so a busy port is
// reported before anything joins the cluster. It starts nothing else.
func New(cfg config.Config, flags *config.Flags, logger *slog.Logger, hub *logging.Hub) (*Agent, error) {
	reg, err := newRegistry()
	if err != nil {
		return nil, err
	}
	// Host names in bind and advertise, and -iface, become addresses
	// once, here: gossip binds once.
	if err := cfg.ResolveAddrs(context.Background(), net.DefaultResolver); err != nil {
		return nil, err
	}
	a := &Agent{flags: flags, log: logger, hub: hub, reg: reg, cfg: cfg,
		leaveCh: make(chan struct{}, 1), tagSet: map[string]string{}, tagDel: map[string]bool{}}
	if err := prepareDevKeyring(cfg, logger); err != nil {
		return nil, err
	}
	if err := a.restoreTags(); err != nil {
		return nil, err
	}
	a.reloads = newReloadGate(reloadEventInterval, a.fireReload)
	if a.svc, err = newServices(cfg, logger, a.publishCatalog); err != nil {
		return nil, err
	}
	nc, err := nodeConfig(cfg, a.effectiveTags())
	if err != nil {
		return nil, err
	}
	nc.Services, _ = a.svc.initialCatalog()
	if a.Node, err = node.New(nc, logger); err != nil {
		return nil, fmt.Errorf("gossip node: %w", err)
	}
	if err := gossipTrustError(cfg, a.Node.Encrypted()); err != nil {
		return nil, err
	}
	warnGossipTrust(cfg, a.Node.Encrypted(), logger)
	warnDNSName(cfg.NodeName, logger)
	warnRejoinWithoutSnapshot(cfg.RejoinAfterLeave, cfg.SnapshotPath, logger)
	reg.MustRegister(newNodeCollector(a.Node.Stats), newRenderCollector(a.renderTotals))
	reg.MustRegister(newTrustGauges(a.GossipSecurity)...)
	reg.MustRegister(a.svc.metrics)
	a.runner = handlers.NewRunner(logger.With("component", "handlers"), handlers.Options{
		Timeout:               cfg.HandlerTimeout,
		Queue:                 cfg.HandlerQueue,
		ResponseLimit:         nc.QueryResponseSizeLimit,
		MemberQuiescentPeriod: cfg.MemberQuiescentPeriod,
		MemberCoalescePeriod:  cfg.MemberCoalescePeriod,
		Self:                  a.self,
		Registerer:            reg,
	})
	scripts, err := parseScripts(cfg.EventHandlers)
	if err != nil {
		return nil, err
	}
	a.runner.SetScripts(scripts)

	if cfg.HTTPAddr != "" {
		if a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("http api: %w (is another agent running? pick another -http-addr)", err)
		}
		if host, _, _ := net.SplitHostPort(cfg.HTTPAddr); cfg.HTTPToken == "" && !net.ParseIP(host).IsLoopback() {
			logger.Warn("the HTTP API listens beyond loopback without a token: anyone who reaches it controls the agent; set -http-token or SHOAL_HTTP_TOKEN", "http_addr", cfg.HTTPAddr)
		}
	}
	return a, nil
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
	return handlers.Self{Name: a.Node.Name(), Tags: a.Tags()}
}

// Run starts gossip, handlers, the API, DNS and rendering, joins, and
// serves until ctx ends, a signal says to stop, or the API asks to leave.
// It returns after everything it started has stopped.
func (a *Agent) Run(ctx context.Context, signals <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Cancel before waiting: DNS and rendering run until ctx ends.
	defer func() {
		cancel()
		wg.Wait()
	}()
	defer a.runner.Close()

	// Subscribe before Start so no event is missed.
	events, unsubscribe := a.Node.Subscribe(256)
	defer unsubscribe()
	if err := a.Node.Start(); err != nil {
		return fmt.Errorf("gossip node: %w", err)
	}
	defer func() {
		if err := a.Node.Shutdown(); err != nil {
			a.log.Warn("node shutdown", "err", err)
		}
	}()
	defer a.svc.start(ctx)() // stopped before the node shuts down
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return
				}
				if a.builtin(e) {
					continue
				}
				a.runner.Handle(e)
			case <-ctx.Done():
				return
			}
		}
	}()

	fatal := make(chan error, 4)
	if a.httpLn != nil {
		var ln net.Listener
		a.httpSrv, ln = a.newHTTPServer(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fatal <- fmt.Errorf("http api: %w", err)
			}
		}()
		defer a.stopHTTP()
	}

	if err := a.startComponents(ctx, &wg, fatal); err != nil {
		return err
	}
	if err := a.waitDNS(ctx, fatal); err != nil {
		return err
	}
	cfg := a.config()
	if len(cfg.Join) > 0 {
		n, err := a.Node.Join(cfg.Join, cfg.ReplayOnJoin)
		if n == 0 {
			return fmt.Errorf("join %v: %w (is an agent running there? check -join)", cfg.Join, err)
		}
		a.log.Info("joined", "contacted", n)
	}
	if len(cfg.RetryJoin) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); a.retryJoin(ctx, cfg, fatal) }()
	}
	if err := a.startDiscovery(ctx, &wg, cfg); err != nil {
		return err
	}

	ip, port := a.Node.LocalAddr()
	a.log.Info("agent running", "node", a.Node.Name(), "gossip_addr", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))),
		"http_addr", a.HTTPAddr(), "dns_addr", a.dnsAddr(), "version", buildinfo.Version)

	for {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				a.Reload()
				continue
			case syscall.SIGTERM:
				if !a.config().LeaveOnTerminate {
					a.log.Info("terminated, exiting without leaving", "signal", sig.String())
					return nil
				}
			case os.Interrupt:
				if a.config().SkipLeaveOnInterrupt {
					a.log.Info("interrupted, exiting without leaving (skip_leave_on_interrupt)", "signal", sig.String())
					return nil
				}
			}
			a.log.Info("leaving the cluster", "signal", sig.String())
			return a.gracefulLeave(signals)
		case <-a.leaveCh:
			a.log.Info("left the cluster on request, exiting")
			return nil
		case err := <-fatal:
			return err
		case err := <-a.Node.Fatal(): // lost a node name conflict
			return fmt.Errorf("gossip node: %w", err)
		case <-ctx.Done():
			return a.gracefulLeave(signals)
		}
	}
}

// gracefulLeave leaves the cluster; a second SIGINT or SIGTERM skips the
// wait.
func (a *Agent) gracefulLeave(signals <-chan os.Signal) error {
	done := make(chan error, 1)
	go func() { done <- a.Node.Leave() }()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("leave: %w", err)
			}
			return nil
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				continue
			}
			a.log.Warn("second signal, exiting without finishing the leave", "signal", sig.String())
			return nil
		}
	}
}

func (a *Agent) stopHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.httpSrv.Shutdown(ctx); err != nil {
		_ = a.httpSrv.Close()
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

func (a *Agent) retryJoin(ctx context.Context, cfg config.Config, fatal chan<- error) {
	t := time.NewTicker(cfg.RetryInterval)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		n, err := a.Node.Join(cfg.RetryJoin, cfg.ReplayOnJoin)
		if n > 0 {
			a.log.Info("retry-join succeeded", "contacted", n, "attempt", attempt)
			return
		}
		if cfg.RetryMax > 0 && attempt >= cfg.RetryMax {
			fatal <- fmt.Errorf("retry-join %v gave up after %d attempts: %w", cfg.RetryJoin, attempt, err)
			return
		}
		a.log.Warn("retry-join failed, will retry", "addrs", cfg.RetryJoin, "err", err, "in", cfg.RetryInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
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

// Leave leaves the cluster, then makes Run return (the API's /v1/leave).
func (a *Agent) Leave() error {
	if err := a.Node.Leave(); err != nil {
		return err
	}
	select {
	case a.leaveCh <- struct{}{}:
	default:
	}
	return nil
}

// effectiveTags are the configured tags with the API's changes on top.
// The caller holds a.mu or owns a.
func (a *Agent) effectiveTags() map[string]string {
	out := maps.Clone(a.cfg.Tags)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, a.tagSet)
	for k := range a.tagDel {
		delete(out, k)
	}
	return out
}

// Tags returns the local node's tags.
func (a *Agent) Tags() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.effectiveTags()
}

// UpdateTags applies the API's tag changes and gossips them. Changes live
// until the agent restarts and survive SIGHUP reloads.
func (a *Agent) UpdateTags(set map[string]string, del []string) (map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prevSet, prevDel := maps.Clone(a.tagSet), maps.Clone(a.tagDel)
	for k, v := range set {
		if k == "" {
			return nil, errors.New("empty tag key")
		}
		a.tagSet[k] = v
		delete(a.tagDel, k)
	}
	for _, k := range del {
		delete(a.tagSet, k)
		a.tagDel[k] = true
	}
	tags := a.effectiveTags()
	// The file first, as Serf: a change that cannot be kept is not made.
	if err := a.persistTags(tags); err != nil {
		a.tagSet, a.tagDel = prevSet, prevDel
		return nil, err
	}
	if err := a.Node.SetTags(tags); err != nil {
		a.tagSet, a.tagDel = prevSet, prevDel
		if perr := a.persistTags(a.effectiveTags()); perr != nil {
			a.log.Error("tags file: could not restore the previous tags", "err", perr)
		}
		return nil, err
	}
	return tags, nil
}

// Info describes the agent for /v1/info.
func (a *Agent) Info() api.Info {
	cfg := a.config()
	ip, port := a.Node.LocalAddr()
	st := a.Node.Stats()
	info := api.Info{
		Name: a.Node.Name(), Version: buildinfo.Version,
		GossipAddr: net.JoinHostPort(ip.String(), strconv.Itoa(int(port))),
		HTTPAddr:   a.HTTPAddr(), DNSAddr: a.dnsAddr(), Domain: cfg.Domain,
		Tags: a.Tags(), GossipSecurity: a.GossipSecurity(),
		Handlers: slices.Clone(cfg.EventHandlers),
		Stats: map[string]uint64{
			"members": uint64(st.Members), "alive": uint64(st.Alive), "suspect": uint64(st.Suspect), "failed": uint64(st.Failed),
			"left": uint64(st.Left), "health_score": uint64(st.Health),
			"member_time": uint64(st.LamportTime), "event_time": uint64(st.EventTime), "query_time": uint64(st.QueryTime),
			"dropped_messages": st.DroppedMessages, "dropped_events": st.DroppedEvents,
			"dropped_broadcasts": st.DroppedBroadcasts, "pending_queries": uint64(st.PendingQueries),
		},
	}
	for _, s := range cfg.Services {
		info.Services = append(info.Services, api.Service{Name: s.Name, Port: s.Port, Tags: s.Tags, Weight: s.Weight})
	}
	for _, t := range cfg.Templates {
		info.Templates = append(info.Templates, t.Source+" -> "+t.Destination+" ("+t.Backend.Kind+")")
	}
	return info
}
