package config

import (
	"flag"
	"fmt"
	"strconv"
)

// serfFlags are the agent flags that carry Serf's names (serf.go).
type serfFlags struct {
	replay, rejoin, syslog         bool
	disableCompression             bool
	broadcastTimeout               string
	mdnsNoIPv4, mdnsNoIPv6         bool
	retryMax                       int
	retryInterval                  string
	iface, discover, mdnsIface     string
	tagsFile, role, syslogFacility string
}

func (s *serfFlags) define(fs *flag.FlagSet) {
	fs.BoolVar(&s.replay, "replay", false, "replay past user events on the joins the agent makes (-join, -retry-join, -discover)")
	fs.Var(durationValue(&s.retryInterval, retryIntervalRange), "retry-interval", "`DURATION` between -retry-join attempts (default 30s)")
	fs.Var(value{new(string), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		if err := retryMaxRange.check(n); err != nil {
			return err
		}
		s.retryMax = n
		return nil
	}}, "retry-max", "give up -retry-join after `N` attempts and exit (default 0: retry until it succeeds)")
	fs.BoolVar(&s.disableCompression, "disable-compression", false, "send gossip uncompressed (gossip.disable_compression)")
	fs.Var(durationValue(&s.broadcastTimeout, leaveTimeoutRange), "broadcast-timeout", "`DURATION` a leave waits for its broadcast to go out: Serf's name for gossip.leave_timeout (default 5s)")
	fs.BoolVar(&s.rejoin, "rejoin", false, "rejoin the cluster from the snapshot after a previous leave (rejoin_after_leave)")
	fs.StringVar(&s.iface, "iface", "", "bind gossip to the address of network interface `NAME` (with -bind ADDR, check that NAME has ADDR)")
	fs.StringVar(&s.discover, "discover", "", "find and join agents of `CLUSTER` on the local network with mDNS")
	fs.StringVar(&s.mdnsIface, "mdns-iface", "", "network interface `NAME` for -discover's mDNS (default: -iface)")
	fs.BoolVar(&s.mdnsNoIPv4, "mdns-disable-ipv4", false, "-discover without IPv4 multicast")
	fs.BoolVar(&s.mdnsNoIPv6, "mdns-disable-ipv6", false, "-discover without IPv6 multicast")
	fs.StringVar(&s.tagsFile, "tags-file", "", "keep the node's tags in `file` (JSON): loaded at start, rewritten when the API changes them; excludes -tag")
	fs.StringVar(&s.role, "role", "", "the node's role: the same as -tag role=`ROLE`")
	fs.BoolVar(&s.syslog, "syslog", false, "also send logs to the local syslog (not on Windows)")
	fs.StringVar(&s.syslogFacility, "syslog-facility", "", "syslog `facility` with -syslog (default "+DefaultSyslogFacility+")")
}

// durationValue is a flag holding a duration within r, kept as given.
func durationValue(dst *string, r durRange) value {
	return value{dst, func(v string) error {
		d, err := parseDuration(v)
		if err == nil {
			err = r.check(d)
		}
		return err
	}}
}

// apply lays the Serf flags that were given over c.
func (s *serfFlags) apply(c *Config, set map[string]bool) {
	bools := map[string]struct{ dst, src *bool }{
		"replay": {&c.ReplayOnJoin, &s.replay}, "rejoin": {&c.RejoinAfterLeave, &s.rejoin},
		"syslog": {&c.EnableSyslog, &s.syslog}, "mdns-disable-ipv4": {&c.MDNS.DisableIPv4, &s.mdnsNoIPv4},
		"mdns-disable-ipv6":   {&c.MDNS.DisableIPv6, &s.mdnsNoIPv6},
		"disable-compression": {&c.Gossip.DisableCompression, &s.disableCompression},
	}
	for name, b := range bools {
		if set[name] {
			*b.dst = *b.src
		}
	}
	strs := map[string]struct{ dst, src *string }{
		"iface": {&c.Interface, &s.iface}, "discover": {&c.Discover, &s.discover},
		"mdns-iface": {&c.MDNS.Interface, &s.mdnsIface}, "tags-file": {&c.TagsFile, &s.tagsFile},
		"syslog-facility": {&c.SyslogFacility, &s.syslogFacility},
	}
	for name, v := range strs {
		if set[name] {
			*v.dst = *v.src
		}
	}
	if set["retry-max"] {
		c.RetryMax = s.retryMax
	}
	if set["retry-interval"] {
		c.RetryInterval, _ = parseDuration(s.retryInterval)
	}
	if set["broadcast-timeout"] {
		c.Gossip.LeaveTimeout, _ = parseDuration(s.broadcastTimeout)
	}
	if set["role"] {
		c.Tags["role"] = s.role
	}
}
