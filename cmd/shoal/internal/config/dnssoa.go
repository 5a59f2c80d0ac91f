package config

import (
	"fmt"

	"github.com/shoal-dev/shoal/dns"
)

// fileSOA is the dns block's soa block, Consul's names. min_ttl is the
// SOA minimum, which is also the negative-caching TTL: it sets the same
// setting as dns.negative_ttl, so there is one owner and no way for the
// two to disagree in a record.
type fileSOA struct {
	Refresh *string `hcl:"refresh,optional"`
	Retry   *string `hcl:"retry,optional"`
	Expire  *string `hcl:"expire,optional"`
	MinTTL  *string `hcl:"min_ttl,optional"`
}

// dnsSOA reads dns.soa. Package dns owns the timers' range; durations
// are whole seconds, as on the wire.
func (a *applier) dnsSOA(c *Config, d *fileDNS) {
	s := d.SOA
	if s == nil {
		return
	}
	timers := durRangeOf(dns.SOATimerRange)
	timers.seconds = true
	a.duration("dns.soa.refresh", s.Refresh, &c.DNS.SOARefresh, timers)
	a.duration("dns.soa.retry", s.Retry, &c.DNS.SOARetry, timers)
	a.duration("dns.soa.expire", s.Expire, &c.DNS.SOAExpire, timers)
	if s.MinTTL != nil && d.NegativeTTL != nil && *s.MinTTL != *d.NegativeTTL {
		a.fail("dns.soa.min_ttl", fmt.Errorf("%s differs from dns.negative_ttl %s; both set the SOA minimum, set one",
			*s.MinTTL, *d.NegativeTTL))
		return
	}
	a.duration("dns.soa.min_ttl", s.MinTTL, &c.DNS.NegativeTTL, dnsTTLRange)
}
