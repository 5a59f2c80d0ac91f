package agent

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/dns"
)

// dnsComponent serves DNS from the node's live membership.
type dnsComponent struct {
	a    *Agent
	srv  *dns.Server
	addr string // configured; the server listens there until a restart

	mu  sync.Mutex
	cfg dns.Config // the one the server answers with; guarded by mu
}

// dnsConfig maps the agent's config onto package dns's.
func dnsConfig(cfg config.Config) dns.Config {
	dc := dns.DefaultConfig()
	dc.Addr = cfg.DNSAddr
	dc.Domain = cfg.Domain
	dc.AltDomain = cfg.AltDomain
	d := cfg.DNS
	dc.NodeTTL, dc.ServiceTTL, dc.NegativeTTL = d.NodeTTL, d.ServiceTTL, d.NegativeTTL
	dc.ServiceTTLs = d.ServiceTTLs
	dc.MaxAnswers = d.MaxAnswers
	dc.UDPAnswerLimit = d.UDPAnswerLimit
	dc.NearSort = d.NearSort
	dc.OnlyPassing = d.OnlyPassing
	dc.Recursors = d.Recursors
	// Unset (zero) bounds and SOA timers keep package dns's defaults.
	setPositive(&dc.TCPMaxConns, d.TCPMaxConns)
	setPositive(&dc.IdleTimeout, d.TCPIdleTimeout)
	setPositive(&dc.MaxInflightForwards, d.MaxInflightForwards)
	setPositive(&dc.RecursorTimeout, d.RecursorTimeout)
	setPositive(&dc.SOARefresh, d.SOARefresh)
	setPositive(&dc.SOARetry, d.SOARetry)
	setPositive(&dc.SOAExpire, d.SOAExpire)
	return dc
}

// setPositive sets *dst to v when v is above zero; else *dst keeps its
// default.
func setPositive[T ~int | ~int64](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// newDNS builds the DNS server; an empty dns_addr turns DNS off.
func (a *Agent) newDNS(cfg config.Config) (component, error) {
	if cfg.DNSAddr == "" {
		return nil, nil
	}
	dc := dnsConfig(cfg)
	srv, err := dns.New(dc, a.node, a.log.With("component", "dns"))
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	c := &dnsComponent{a: a, srv: srv, addr: dc.Addr, cfg: dc}
	a.mu.Lock()
	a.dns = c
	a.mu.Unlock()
	return c, nil
}

func (c *dnsComponent) Run(ctx context.Context) error {
	if err := c.srv.Run(ctx); err != nil {
		return fmt.Errorf("dns on %s: %w", c.addr, err)
	}
	return nil
}

// Reload applies the dns settings to the running server on its open
// sockets: TTLs, caps, recursors, limits, domain, alt domain and SOA. The
// address needs a restart; the agent's reload names dns_addr for that, and
// the server keeps serving where it listens. An invalid dns config keeps
// the running one.
func (c *dnsComponent) Reload(cfg config.Config) error {
	next := dnsConfig(cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if reflect.DeepEqual(next, c.cfg) {
		return nil
	}
	if _, err := c.srv.Reload(next); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	c.cfg = next
	c.a.log.Info("DNS settings reloaded", "domain", next.Domain, "alt_domain", next.AltDomain)
	return nil
}

// dnsAddr is the DNS server's bound address, or the configured one before
// it listens ("" when DNS is off).
func (a *Agent) dnsAddr() string {
	a.mu.Lock()
	c := a.dns
	a.mu.Unlock()
	if c == nil {
		return ""
	}
	select {
	case <-c.srv.Started():
		return c.srv.Addr()
	default:
		return c.addr
	}
}

// waitDNS blocks until the DNS server listens, so "agent running" reports
// its real address (tests bind port 0), or returns the error that stopped it.
func (a *Agent) waitDNS(ctx context.Context, fatal <-chan error) error {
	a.mu.Lock()
	c := a.dns
	a.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.srv.Started():
		return nil
	case err := <-fatal:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
