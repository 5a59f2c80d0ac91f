package config

import (
	"time"

	"github.com/shoal-dev/shoal/dns"
)

// dnsLimits reads the dns block's bounds on what clients can hold, each
// checked against the range package dns enforces, with the file's key.
func (a *applier) dnsLimits(c *Config, d *fileDNS) {
	intIn(a, "dns.tcp_max_conns", d.TCPMaxConns, dns.TCPMaxConnsRange, &c.DNS.TCPMaxConns)
	intIn(a, "dns.max_inflight_forwards", d.MaxInflightForwards, dns.MaxInflightForwardsRange, &c.DNS.MaxInflightForwards)
	durationIn(a, "dns.tcp_idle_timeout", d.TCPIdleTimeout, dns.IdleTimeoutRange, &c.DNS.TCPIdleTimeout)
	durationIn(a, "dns.recursor_timeout", d.RecursorTimeout, dns.RecursorTimeoutRange, &c.DNS.RecursorTimeout)
}

func intIn(a *applier, key string, v *int, r dns.Range[int], dst *int) {
	if v == nil {
		return
	}
	if err := r.Check(*v); err != nil {
		a.fail(key, err)
		return
	}
	*dst = *v
}

func durationIn(a *applier, key string, s *string, r dns.Range[time.Duration], dst *time.Duration) {
	if s == nil {
		return
	}
	d, err := parseDuration(*s)
	if err == nil {
		err = r.Check(d)
	}
	if err != nil {
		a.fail(key, err)
		return
	}
	*dst = d
}
