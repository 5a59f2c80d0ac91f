package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Agent options that come from Serf's agent: join replay, interface
// binding, mDNS discovery, syslog, the tags file and the SIGINT rule.
// Their flags and keys carry Serf's names.

// DefaultSyslogFacility is Serf's.
const DefaultSyslogFacility = "LOCAL0"

// SyslogFacilities are the facility names syslog_facility accepts, as
// Serf's (any case).
var SyslogFacilities = []string{"KERN", "USER", "MAIL", "DAEMON", "AUTH", "SYSLOG", "LPR", "NEWS",
	"UUCP", "CRON", "AUTHPRIV", "FTP", "LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7"}

// MDNSServicePrefix starts the mDNS service name of -discover NAME:
// _shoal_NAME._tcp. Serf's is _serf_: shoal and Serf agents cannot join
// each other, so they must not find each other either.
const MDNSServicePrefix = "_shoal_"

// MDNS is Serf's `mdns` block: how -discover uses multicast DNS.
type MDNS struct {
	// Interface is the multicast interface; default: Config.Interface,
	// else the system's choice.
	Interface                string
	DisableIPv4, DisableIPv6 bool
}

// checkSerfOptions holds the rules of the Serf options that span keys.
func (c *Config) checkSerfOptions() []error {
	var errs []error
	if c.TagsFile != "" && len(c.Tags) > 0 {
		// As in Serf: the file is the tags' one source, or SIGHUP and a
		// restart would disagree about which tags win.
		errs = append(errs, errors.New("tags (-tag) and tags_file (-tags-file) exclude each other: put the tags in the tags file"))
	}
	if c.EnableSyslog || c.SyslogFacility != DefaultSyslogFacility {
		if _, ok := SyslogFacility(c.SyslogFacility); !ok {
			errs = append(errs, fmt.Errorf("syslog_facility %q is not one of %s", c.SyslogFacility, strings.Join(SyslogFacilities, ", ")))
		}
	}
	if c.Discover != "" && !validDiscoverName(c.Discover) {
		errs = append(errs, fmt.Errorf("discover (-discover) %q must be 1-56 letters, digits or '-' (it becomes the mDNS service `+MDNSServicePrefix+`NAME._tcp)", c.Discover))
	}
	if c.Discover == "" && c.MDNS != (MDNS{}) {
		errs = append(errs, errors.New("mdns options are set but discover (-discover) is not"))
	}
	if c.MDNS.DisableIPv4 && c.MDNS.DisableIPv6 {
		errs = append(errs, errors.New("mdns: disable_ipv4 and disable_ipv6 leave nothing to discover on"))
	}
	return errs
}

// SyslogFacility returns the index of name in SyslogFacilities (any case).
func SyslogFacility(name string) (int, bool) {
	for i, f := range SyslogFacilities {
		if strings.EqualFold(f, name) {
			return i, true
		}
	}
	return 0, false
}

func validDiscoverName(s string) bool {
	return s != "" && len(MDNSServicePrefix+s) <= 63 && labelChars(s)
}

// ParseHostOrIPPort is ParseHostPort that also takes a host name for ADDR
// ("localhost:7946", "gossip.example.com"). A name is kept as it is and
// resolved when the agent starts (Config.ResolveAddrs), so reading a
// config never waits on DNS.
func ParseHostOrIPPort(s string, defPort int) (string, int, error) {
	host, port, err := ParseHostPort(s, defPort)
	if err == nil {
		return host, port, nil
	}
	h, p, serr := net.SplitHostPort(s)
	if serr != nil {
		h, p = s, ""
	}
	if !validHostName(h) {
		return "", 0, fmt.Errorf("%q: %q is not an IP address or a host name", s, h)
	}
	port = defPort
	if p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port > 65535 {
			return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, p)
		}
	}
	return h, port, nil
}

// validHostName reports whether s is a DNS host name: dot-separated labels
// of 1-63 letters, digits and '-', at most 253 bytes, not all digits (that
// would be a malformed IP address).
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				letter = true
			case '0' <= c && c <= '9':
			default:
				return false
			}
		}
	}
	return letter
}

// applySerfOptions lays a file's Serf options over c; Validate checks them.
func applySerfOptions(c *Config, fc *fileConfig) {
	setStr(&c.Interface, fc.Interface)
	setBool(&c.ReplayOnJoin, fc.ReplayOnJoin)
	setStr(&c.Discover, fc.Discover)
	if m := fc.MDNS; m != nil {
		setStr(&c.MDNS.Interface, m.Interface)
		setBool(&c.MDNS.DisableIPv4, m.DisableIPv4)
		setBool(&c.MDNS.DisableIPv6, m.DisableIPv6)
	}
	setStr(&c.TagsFile, fc.TagsFile)
	setBool(&c.SkipLeaveOnInterrupt, fc.SkipLeaveOnInterrupt)
	setBool(&c.EnableSyslog, fc.EnableSyslog)
	setStr(&c.SyslogFacility, fc.SyslogFacility)
}

func setBool(dst *bool, b *bool) {
	if b != nil {
		*dst = *b
	}
}
