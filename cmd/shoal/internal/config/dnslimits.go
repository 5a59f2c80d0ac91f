package config

import (
	"time"

	"github.com/shoal-dev/shoal/dns"
)

// dnsLimits reads the dns block's bounds on what clients can hold. Package
// dns owns their ranges (its Validate checks the same ones); the file is
// checked through the same helpers as every other key, so the errors read
// alike.
func (a *applier) dnsLimits(c *Config, d *fileDNS) {
	a.count("dns.tcp_max_conns", d.TCPMaxConns, &c.DNS.TCPMaxConns, intRangeOf(dns.TCPMaxConnsRange))
	a.count("dns.max_inflight_forwards", d.MaxInflightForwards, &c.DNS.MaxInflightForwards, intRangeOf(dns.MaxInflightForwardsRange))
	a.duration("dns.tcp_idle_timeout", d.TCPIdleTimeout, &c.DNS.TCPIdleTimeout, durRangeOf(dns.IdleTimeoutRange))
	a.duration("dns.recursor_timeout", d.RecursorTimeout, &c.DNS.RecursorTimeout, durRangeOf(dns.RecursorTimeoutRange))
	a.count("dns.udp_answer_limit", d.UDPAnswerLimit, &c.DNS.UDPAnswerLimit, dnsAnswerLimitRange)
}

func intRangeOf(r dns.Range[int]) intRange { return intRange{r.Min, r.Max} }

func durRangeOf(r dns.Range[time.Duration]) durRange {
	return durRange{min: r.Min, max: r.Max}
}

// dnsAnswerLimitRange holds dns.max_answers and dns.udp_answer_limit.
var dnsAnswerLimitRange = intRangeOf(dns.AnswerLimitRange)
