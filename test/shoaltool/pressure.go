package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/test/internal/procstat"
)

// pressureConfig is what the pressure command was asked to do.
type pressureConfig struct {
	dns, http   netip.AddrPort
	pid         int
	name        string
	phases      []phaseSpec
	dnsRate     int
	healthRate  int
	timeout     time.Duration
	dnsConns    int
	httpConns   int
	forwardRate int
	floodSrc    netip.Addr // where the floods come from
}

// phaseSpec is one measured stretch of time, flooded or not.
type phaseSpec struct {
	name  string
	d     time.Duration
	flood bool
}

func parsePressure(args []string) (pressureConfig, error) {
	fs := flag.NewFlagSet("pressure", flag.ContinueOnError)
	dnsAddr := fs.String("dns", "", "the agent's DNS address (loopback IP:port)")
	httpAddr := fs.String("http", "", "the agent's HTTP API address (loopback IP:port)")
	pid := fs.Int("pid", 0, "the agent's process id, for its CPU time and open files")
	name := fs.String("name", "web.service.shoal.", "name whose A records the DNS probe asks for")
	baseline := fs.Duration("baseline", 5*time.Second, "probe time before the flood")
	flood := fs.Duration("flood", 20*time.Second, "probe time under the flood")
	after := fs.Duration("after", 5*time.Second, "probe time after the flood (0: none)")
	dnsRate := fs.Int("dns-rate", 200, "UDP DNS probes per second")
	healthRate := fs.Int("health-rate", 20, "/v1/health probes per second")
	timeout := fs.Duration("timeout", time.Second, "probe timeout; a probe that takes longer failed")
	dnsConns := fs.Int("dns-conns", 2000, "TCP connections to the DNS port to hold (0: none)")
	httpConns := fs.Int("http-conns", 1000, "idle HTTP connections to hold (0: none)")
	fwdRate := fs.Int("forward-rate", 5000, "forwarded queries per second for names under example. (0: none)")
	floodSrc := fs.String("flood-src", "127.0.0.2", "loopback address the floods come from; the probes come from 127.0.0.1, as a load balancer's probe comes from another host than an attacker (127.0.0.1: the same address)")
	if err := fs.Parse(args); err != nil {
		return pressureConfig{}, err
	}
	var errs []error
	dns, err := loopbackAddr("dns", *dnsAddr, false)
	errs = append(errs, err)
	http, err := loopbackAddr("http", *httpAddr, false)
	errs = append(errs, err)
	src, err := netip.ParseAddr(*floodSrc)
	if err != nil || !src.IsLoopback() {
		errs = append(errs, fmt.Errorf("-flood-src %q: want a loopback IP address", *floodSrc))
	}
	if *pid <= 0 {
		errs = append(errs, fmt.Errorf("-pid %d: want the agent's process id", *pid))
	}
	if *dnsRate <= 0 || *healthRate <= 0 || *timeout <= 0 {
		errs = append(errs, errors.New("-dns-rate, -health-rate and -timeout must be positive"))
	}
	if *dnsConns < 0 || *httpConns < 0 || *fwdRate < 0 {
		errs = append(errs, errors.New("-dns-conns, -http-conns and -forward-rate must not be negative"))
	}
	if *baseline <= 0 || *flood <= 0 || *after < 0 {
		errs = append(errs, errors.New("-baseline and -flood must be positive, -after not negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return pressureConfig{}, fmt.Errorf("pressure: %w", err)
	}
	phases := []phaseSpec{{"baseline", *baseline, false}, {"flood", *flood, true}}
	if *after > 0 {
		phases = append(phases, phaseSpec{"after", *after, false})
	}
	return pressureConfig{
		dns: dns, http: http, pid: *pid, name: *name, phases: phases,
		dnsRate: *dnsRate, healthRate: *healthRate, timeout: *timeout,
		dnsConns: *dnsConns, httpConns: *httpConns, forwardRate: *fwdRate, floodSrc: src,
	}, nil
}

// pressure measures how an agent's UDP DNS and /v1/health answer before,
// during and after a flood of held TCP DNS connections, idle HTTP
// connections and queries forwarded to a dead upstream, and prints a
// table. It only ever sends to loopback addresses.
func pressure(args []string) error {
	cfg, err := parsePressure(args)
	if err != nil {
		return err
	}
	// A descriptor per held connection, per probe in flight and spare.
	want := uint64(cfg.dnsConns + cfg.httpConns + 2*(cfg.dnsRate+cfg.healthRate) + 1024)
	nofile, err := raiseNofile(want)
	if err != nil || nofile < want {
		fmt.Fprintf(os.Stderr, "pressure: RLIMIT_NOFILE %d, want %d: %v\n", nofile, want, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	dnsP := dnsProbe(cfg.dns.String(), cfg.name, cfg.timeout)
	healthP := healthProbe(cfg.http.String())
	if err := waitAnswering(ctx, 15*time.Second, dnsP, healthP); err != nil {
		return fmt.Errorf("pressure: agent not answering before the baseline: %w", err)
	}
	var rows []*phaseResult
	for _, ph := range cfg.phases {
		fmt.Fprintf(os.Stderr, "pressure: %s for %v\n", ph.name, ph.d)
		r, err := runPhase(ctx, ph, cfg, dnsP, healthP)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printReport(os.Stdout, cfg, rows)
	return nil
}

// phaseResult is one phase's row of the report.
type phaseResult struct {
	name        string
	d           time.Duration
	dns, health summary
	agentCPU    float64 // percent of one core over the phase
	toolCPU     float64
	fds, rssKB  int
	flood       bool
	// The floods' counters, and how many connections were held when the
	// phase ended.
	dnsHold, httpHold holdStats
	heldDNS, heldHTTP int64
	fwd               forwardStats
}

// runPhase probes for ph.d, flooding too if ph.flood. The agent's CPU,
// files and memory and the held connections are read when ph.d is over,
// while the flood still runs; the flood stops once the last probes are in.
func runPhase(ctx context.Context, ph phaseSpec, cfg pressureConfig, dnsP, healthP probe) (*phaseResult, error) {
	r := &phaseResult{name: ph.name, d: ph.d, flood: ph.flood}
	floodCtx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var floodWG sync.WaitGroup
	if ph.flood {
		if err := startFlood(floodCtx, &floodWG, cfg, r); err != nil {
			return nil, err
		}
	}
	agent0, err := procstat.CPUTime(cfg.pid)
	if err != nil {
		return nil, err
	}
	self0, _ := procstat.CPUTime(0)
	t0 := time.Now()
	probeCtx, stopProbes := context.WithTimeout(ctx, ph.d)
	defer stopProbes()
	var dnsS, healthS []sample
	var probeWG sync.WaitGroup
	probeWG.Go(func() { dnsS = openLoop(probeCtx, cfg.dnsRate, cfg.timeout, dnsP) })
	probeWG.Go(func() { healthS = openLoop(probeCtx, cfg.healthRate, cfg.timeout, healthP) })
	<-probeCtx.Done()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pressure: interrupted in %s", ph.name)
	}
	wall := time.Since(t0)
	agent1, err := procstat.CPUTime(cfg.pid)
	if err != nil {
		return nil, err
	}
	self1, _ := procstat.CPUTime(0)
	r.agentCPU = 100 * float64(agent1-agent0) / float64(wall)
	r.toolCPU = 100 * float64(self1-self0) / float64(wall)
	if r.fds, err = openFDs(cfg.pid); err != nil {
		return nil, err
	}
	if r.rssKB, err = rssKB(cfg.pid); err != nil {
		return nil, err
	}
	r.heldDNS, r.heldHTTP = r.dnsHold.held.Load(), r.httpHold.held.Load()
	probeWG.Wait()
	stopFlood()
	floodWG.Wait()
	r.dns, r.health = summarize(dnsS), summarize(healthS)
	return r, nil
}

// startFlood starts the three floods the config asks for.
func startFlood(ctx context.Context, wg *sync.WaitGroup, cfg pressureConfig, r *phaseResult) error {
	if cfg.dnsConns > 0 {
		hold(ctx, wg, cfg.floodSrc, cfg.dns.String(), cfg.dnsConns, nil, &r.dnsHold)
	}
	if cfg.httpConns > 0 {
		// A request line cut short: the server waits for the rest.
		hold(ctx, wg, cfg.floodSrc, cfg.http.String(), cfg.httpConns, []byte("GET /v1/health HT"), &r.httpHold)
	}
	if cfg.forwardRate > 0 {
		return forwardFlood(ctx, wg, cfg.floodSrc, cfg.dns, cfg.forwardRate, &r.fwd)
	}
	return nil
}
