package config

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

func TestLoad_SerfOptions(t *testing.T) {
	dir := t.TempDir()
	hcl := write(t, dir, "a.hcl", `
interface               = "lo"
replay_on_join          = true
discover                = "prod"
tags_file               = "/var/lib/shoal/tags.json"
skip_leave_on_interrupt = true
enable_syslog           = true
syslog_facility         = "local3"
retry_max               = 4
mdns {
  interface    = "lo"
  disable_ipv6 = true
}
`)
	json := write(t, dir, "b.json", `{
  "interface": "lo", "replay_on_join": true, "discover": "prod",
  "tags_file": "/var/lib/shoal/tags.json", "skip_leave_on_interrupt": true,
  "enable_syslog": true, "syslog_facility": "local3", "retry_max": 4,
  "mdns": {"interface": "lo", "disable_ipv6": true}
}`)
	for _, p := range []string{hcl, json} {
		c, err := load(t, "-config-file", p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := MDNS{Interface: "lo", DisableIPv6: true}
		if c.Interface != "lo" || !c.ReplayOnJoin || c.Discover != "prod" || c.TagsFile != "/var/lib/shoal/tags.json" ||
			!c.SkipLeaveOnInterrupt || !c.EnableSyslog || c.SyslogFacility != "local3" || c.RetryMax != 4 || c.MDNS != want {
			t.Errorf("%s: got %+v", p, c)
		}
	}
}

func TestParseFlags_SerfFlags(t *testing.T) {
	c, err := load(t, "-replay", "-retry-max", "3", "-retry-interval", "2s", "-rejoin", "-iface", "lo",
		"-discover", "dev-1", "-mdns-iface", "lo", "-mdns-disable-ipv4", "-tags-file", "t.json",
		"-syslog", "-syslog-facility", "DAEMON")
	if err != nil {
		t.Fatal(err)
	}
	if !c.ReplayOnJoin || c.RetryMax != 3 || c.RetryInterval != 2*time.Second || !c.RejoinAfterLeave || c.Interface != "lo" ||
		c.Discover != "dev-1" || c.MDNS != (MDNS{Interface: "lo", DisableIPv4: true}) || c.TagsFile != "t.json" ||
		!c.EnableSyslog || c.SyslogFacility != "DAEMON" {
		t.Errorf("got %+v", c)
	}
	if c, err = load(t, "-disable-compression", "-broadcast-timeout", "9s"); err != nil ||
		!c.Gossip.DisableCompression || c.Gossip.LeaveTimeout != 9*time.Second {
		t.Errorf("-disable-compression -broadcast-timeout 9s: got compression off %v, leave timeout %s (%v)",
			c.Gossip.DisableCompression, c.Gossip.LeaveTimeout, err)
	}
	if c, err = load(t, "-role", "web"); err != nil || c.Tags["role"] != "web" {
		t.Errorf("-role web: got tags %v (%v), want role=web", c.Tags, err)
	}
	if c, err = load(t); err != nil || c.SyslogFacility != "LOCAL0" || c.RetryInterval != 30*time.Second || c.ReplayOnJoin {
		t.Errorf("defaults: got facility %q, retry interval %s, replay %v (%v); want Serf's LOCAL0, 30s, false", c.SyslogFacility, c.RetryInterval, c.ReplayOnJoin, err)
	}
}

func TestParseFlags_SerfFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-retry-max", "many"}, {"-retry-max", "-1"}, {"-retry-interval", "soon"}, {"-retry-interval", "1ms"},
		{"-broadcast-timeout", "soon"}, {"-broadcast-timeout", "0s"},
	} {
		if _, err := ParseFlags(args, &strings.Builder{}); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

func TestLoad_SerfOptionErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-tags-file", "t.json", "-tag", "a=b"}, "tags (-tag) and tags_file (-tags-file) exclude each other"},
		{[]string{"-syslog", "-syslog-facility", "local9"}, `syslog_facility "local9" is not one of`},
		{[]string{"-discover", "has space"}, `discover (-discover) "has space"`},
		{[]string{"-discover", strings.Repeat("x", 57)}, "1-56 letters"},
		{[]string{"-mdns-iface", "lo"}, "mdns options are set but discover"},
		{[]string{"-discover", "c", "-mdns-disable-ipv4", "-mdns-disable-ipv6"}, "leave nothing"},
	}
	for _, c := range cases {
		_, err := load(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestParseHostOrIPPort(t *testing.T) {
	cases := []struct {
		in       string
		host     string
		port     int
		bad      bool
		badMatch string
	}{
		{in: "127.0.0.1:7000", host: "127.0.0.1", port: 7000},
		{in: "[::1]:7000", host: "::1", port: 7000},
		{in: "::1", host: "::1", port: 7946},
		{in: "localhost:7000", host: "localhost", port: 7000},
		{in: "localhost", host: "localhost", port: 7946},
		{in: "gossip-1.example.com.", host: "gossip-1.example.com.", port: 7946},
		{in: "no where", bad: true, badMatch: "not an IP address or a host name"},
		{in: "host:99999", bad: true, badMatch: "port"},
		{in: "1.2.3.4.5", bad: true, badMatch: "not an IP address or a host name"},
		{in: "-lead.example", bad: true},
		{in: strings.Repeat("a", 64) + ".example", bad: true},
	}
	for _, c := range cases {
		h, p, err := ParseHostOrIPPort(c.in, 7946)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), c.badMatch) {
				t.Errorf("%q: got %s %d %v, want an error containing %q", c.in, h, p, err, c.badMatch)
			}
			continue
		}
		if err != nil || h != c.host || p != c.port {
			t.Errorf("%q: got %q %d %v, want %q %d", c.in, h, p, err, c.host, c.port)
		}
	}
}

// hostsResolver answers from a table, like /etc/hosts, so the test never
// asks a DNS server.
type hostsResolver map[string][]string

func (h hostsResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := h[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestResolveAddrs(t *testing.T) {
	r := hostsResolver{"gossip.test": {"::2", "10.1.2.3"}, "v6only.test": {"fd00::7"}}
	c := Config{BindAddr: "gossip.test", AdvertiseAddr: "v6only.test"}
	if err := c.ResolveAddrs(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if c.BindAddr != "10.1.2.3" || c.AdvertiseAddr != "fd00::7" {
		t.Errorf("got bind %s advertise %s, want the first IPv4 (10.1.2.3) and the only address (fd00::7)", c.BindAddr, c.AdvertiseAddr)
	}

	c = Config{BindAddr: "nosuch.test", AdvertiseAddr: "gone.test"}
	err := c.ResolveAddrs(context.Background(), r)
	for _, want := range []string{`bind (-bind): cannot resolve host name "nosuch.test"`, `advertise (-advertise): cannot resolve host name "gone.test"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error containing %q", err, want)
		}
	}

	// The real resolver, on a name /etc/hosts holds.
	c = Config{BindAddr: "localhost"}
	if err := c.ResolveAddrs(context.Background(), net.DefaultResolver); err != nil || !net.ParseIP(c.BindAddr).IsLoopback() {
		t.Errorf("localhost: got %q (%v), want a loopback address", c.BindAddr, err)
	}
}

func TestResolveAddrs_Interface(t *testing.T) {
	lo := testutil.LoopbackInterface(t)
	c := Config{BindAddr: "0.0.0.0", Interface: lo}
	if err := c.ResolveAddrs(context.Background(), hostsResolver{}); err != nil || !net.ParseIP(c.BindAddr).IsLoopback() {
		t.Errorf("-iface %s: got bind %q (%v), want its loopback address", lo, c.BindAddr, err)
	}
	c = Config{BindAddr: "127.0.0.1", Interface: lo}
	if err := c.ResolveAddrs(context.Background(), hostsResolver{}); err != nil || c.BindAddr != "127.0.0.1" {
		t.Errorf("-iface %s -bind 127.0.0.1: got %q (%v), want it kept", lo, c.BindAddr, err)
	}
	c = Config{BindAddr: "192.0.2.77", Interface: lo}
	if err := c.ResolveAddrs(context.Background(), hostsResolver{}); err == nil || !strings.Contains(err.Error(), "has no address 192.0.2.77") {
		t.Errorf("-iface %s with an address it has not: got %v", lo, err)
	}
	c = Config{BindAddr: "0.0.0.0", Interface: "no-such-if0"}
	if err := c.ResolveAddrs(context.Background(), hostsResolver{}); err == nil || !strings.Contains(err.Error(), `interface (-iface): "no-such-if0"`) {
		t.Errorf("unknown interface: got %v, want an error naming it", err)
	}
}
