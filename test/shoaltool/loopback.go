package main

import (
	"fmt"
	"net/netip"
	"syscall"
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

// raiseNofile lifts this process's RLIMIT_NOFILE to at least want, raising
// the hard limit too when allowed (root), since a flood of held
// connections needs a descriptor each. It returns the soft limit in force.
func raiseNofile(want uint64) (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if r.Cur >= want {
		return r.Cur, nil
	}
	next := syscall.Rlimit{Cur: want, Max: max(r.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		// Not root: take what the hard limit allows.
		next = syscall.Rlimit{Cur: r.Max, Max: r.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err2 != nil {
			return r.Cur, fmt.Errorf("setrlimit nofile %d: %w", want, err)
		}
	}
	return next.Cur, nil
}
