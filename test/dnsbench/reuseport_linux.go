package main

import "syscall"

// sockets is how many sockets the bare responder binds: one per CPU, like
// shoal's UDP loops, so the two are compared with the same socket layout.
func sockets(procs int) int { return procs }

// reusePort sets SO_REUSEPORT (0xf in <asm-generic/socket.h>; syscall lacks
// the constant on most Linux ports).
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
