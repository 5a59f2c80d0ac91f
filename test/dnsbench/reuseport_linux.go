package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sockets is how many sockets the bare responder binds: one per CPU, like
// shoal's UDP loops, so the two are compared with the same socket layout.
func sockets(procs int) int { return procs }

// reusePort sets SO_REUSEPORT, as package dns does.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
