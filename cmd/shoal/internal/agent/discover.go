package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/mdns"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// -discover CLUSTER finds agents of the same cluster on the local network
// with multicast DNS, as Serf's does: the agent announces its gossip
// address as the service _shoal_CLUSTER._tcp, asks for that service at
// start and every minute, and joins the addresses it has not joined yet.

// Serf's timings: a poll a minute; the answers of one poll are joined
// together once none has come for a tenth of a second.
const (
	discoverPollInterval  = 60 * time.Second
	discoverQuietInterval = 100 * time.Millisecond
)

// maxDiscoverBatch bounds the addresses one poll joins: mDNS answers come
// from anyone on the link, so a flood of forged answers must not grow the
// batch, keep postponing the join, or make the agent dial hundreds of
// addresses; one reachable member is enough to join the cluster.
const maxDiscoverBatch = 16

// discoverer joins the agents one mDNS poll after another finds.
type discoverer struct {
	self    string // own gossip ADDR:PORT, never joined
	join    func(addrs []string) (int, error)
	query   func(ctx context.Context, entries chan<- *mdns.ServiceEntry) error
	log     *slog.Logger
	poll    time.Duration
	quiet   time.Duration
	joinedN func(n int) // tests: called after each join attempt
}

// run polls at once, then every d.poll, until ctx ends. An address is
// joined again only while no join has succeeded with it.
func (d *discoverer) run(ctx context.Context) {
	entries := make(chan *mdns.ServiceEntry, 32)
	seen := map[string]bool{d.self: true}
	var batch []string
	var quiet <-chan time.Time
	poll := time.NewTimer(0)
	defer poll.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case e := <-entries:
			addr := entryAddr(e)
			if addr == "" || seen[addr] || len(batch) >= maxDiscoverBatch || slices.Contains(batch, addr) {
				continue
			}
			batch = append(batch, addr)
			quiet = time.After(d.quiet)
		case <-quiet:
			n, err := d.join(batch)
			if err != nil {
				d.log.Warn("discover: join failed", "addrs", batch, "err", err)
			}
			if n > 0 {
				d.log.Info("discover: joined", "contacted", n, "addrs", batch)
				for _, a := range batch {
					seen[a] = true
				}
			}
			if d.joinedN != nil {
				d.joinedN(n)
			}
			batch, quiet = nil, nil
		case <-poll.C:
			poll.Reset(d.poll)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.query(ctx, entries); err != nil && ctx.Err() == nil {
					d.log.Warn("discover: mDNS query failed", "err", err)
				}
			}()
		case <-ctx.Done():
			return
		}
	}
}

// entryAddr is the gossip address an mDNS answer announces, IPv4 first.
func entryAddr(e *mdns.ServiceEntry) string {
	if e == nil || e.Port <= 0 || e.Port > 65535 {
		return ""
	}
	ip := e.AddrV4
	if ip == nil && e.AddrV6IPAddr != nil {
		ip = e.AddrV6IPAddr.IP
	}
	if ip == nil {
		return ""
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(e.Port))
}

// mdnsInterface is the interface -discover multicasts on: mdns.interface,
// else -iface, else the system's choice (nil).
func mdnsInterface(cfg config.Config) (*net.Interface, error) {
	name := cfg.MDNS.Interface
	if name == "" {
		name = cfg.Interface
	}
	if name == "" {
		return nil, nil
	}
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("discover: mdns interface %q: %w", name, err)
	}
	return iface, nil
}

// startDiscovery announces the agent and starts the discoverer when
// -discover is set. Both stop when ctx ends.
func (a *Agent) startDiscovery(ctx context.Context, wg *sync.WaitGroup, cfg config.Config) error {
	if cfg.Discover == "" {
		return nil
	}
	iface, err := mdnsInterface(cfg)
	if err != nil {
		return err
	}
	ip, port := a.node.LocalAddr()
	service := config.MDNSServicePrefix + cfg.Discover + "._tcp"
	zone, err := mdns.NewMDNSService(a.node.Name(), service, "", "", int(port), []net.IP{ip},
		[]string{fmt.Sprintf("shoal '%s' cluster", cfg.Discover)})
	if err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	mlog := slog.NewLogLogger(a.log.With("component", "mdns").Handler(), slog.LevelDebug)
	srv, err := mdns.NewServer(&mdns.Config{Zone: zone, Iface: iface, Logger: mlog})
	if err != nil {
		return fmt.Errorf("discover: mdns responder (is multicast available on the interface? see -mdns-iface): %w", err)
	}
	d := &discoverer{
		self: net.JoinHostPort(ip.String(), strconv.Itoa(int(port))),
		join: func(addrs []string) (int, error) { return a.node.Join(addrs, cfg.ReplayOnJoin) },
		query: func(ctx context.Context, entries chan<- *mdns.ServiceEntry) error {
			return mdns.QueryContext(ctx, &mdns.QueryParam{Service: service, Domain: "local", Timeout: time.Second,
				Interface: iface, Entries: entries, DisableIPv4: cfg.MDNS.DisableIPv4, DisableIPv6: cfg.MDNS.DisableIPv6, Logger: mlog})
		},
		log: a.log, poll: discoverPollInterval, quiet: discoverQuietInterval,
	}
	a.log.Info("discover: looking for agents with mDNS", "cluster", cfg.Discover, "service", service)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer srv.Shutdown()
		d.run(ctx)
	}()
	return nil
}
