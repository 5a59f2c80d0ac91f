package main

import (
	"fmt"
	"net/netip"
)

// loopbackAddr parses addr, given with flag name, as an IP literal and port
// on a loopback address (127.0.0.0/8 or ::1) and refuses anything else: the
// pressure and blackhole commands flood what they are pointed at, so they
// must never reach past this machine. Names are refused too, since a
// resolver could map them anywhere. Port 0 is allowed only to listen.
func loopbackAddr(name, addr string, listen bool) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-%s %q: want a loopback IP and port such as 127.0.0.1:8600: %w", name, addr, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("-%s %q: %s is not a loopback address; this tool only targets 127.0.0.0/8 and ::1", name, addr, ap.Addr())
	}
	if ap.Port() == 0 && !listen {
		return netip.AddrPort{}, fmt.Errorf("-%s %q: port 0 is not a target", name, addr)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
