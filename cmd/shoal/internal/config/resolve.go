package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// resolveTimeout bounds each look-up at start.
const resolveTimeout = 10 * time.Second

// ResolveAddrs turns what the agent binds to and advertises into IP
// addresses, once, when the agent starts: a host name in bind or advertise
// becomes its first IPv4 address (its first address if it has none, as
// Serf's resolution does), and -iface picks or checks the bind address.
// Join addresses are left as names: memberlist resolves them at each
// attempt, so a retry-join reaches a name whose address changed. Every
// error names the key and the name.
func (c *Config) ResolveAddrs(ctx context.Context, r Resolver) error {
	var errs []error
	for _, a := range []struct {
		key  string
		addr *string
	}{{"bind", &c.BindAddr}, {"advertise", &c.AdvertiseAddr}} {
		if *a.addr == "" || net.ParseIP(*a.addr) != nil {
			continue
		}
		ip, err := lookupOne(ctx, r, *a.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (-%s): cannot resolve host name %q: %w", a.key, a.key, *a.addr, err))
			continue
		}
		*a.addr = ip.String()
	}
	if c.Interface != "" && len(errs) == 0 {
		ip, err := interfaceAddr(c.Interface, c.BindAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("interface (-iface): %w", err))
		} else {
			c.BindAddr = ip.String()
		}
	}
	return errors.Join(errs...)
}

func lookupOne(ctx context.Context, r Resolver, host string) (net.IP, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.To4(), nil
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("no addresses")
	}
	return addrs[0].IP, nil
}

// interfaceAddr is Serf's -iface rule: with bind on the wildcard address,
// the interface's first address that is not link-local; with a bind
// address, that address, which the interface must have.
func interfaceAddr(name, bind string) (net.IP, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return nil, fmt.Errorf("%q: addresses: %w", name, err)
	}
	var ips []net.IP
	for _, a := range addrs {
		switch v := a.(type) {
		case *net.IPNet:
			ips = append(ips, v.IP)
		case *net.IPAddr: // Windows
			ips = append(ips, v.IP)
		}
	}
	want := net.ParseIP(bind)
	if want != nil && !want.IsUnspecified() {
		for _, ip := range ips {
			if ip.Equal(want) {
				return want, nil
			}
		}
		return nil, fmt.Errorf("%q has no address %s (bind)", name, bind)
	}
	for _, ip := range ips {
		if !ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("%q has no usable address (none but link-local)", name)
}
