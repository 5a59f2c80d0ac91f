package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortBalances: Linux spreads datagrams over the sockets that share a
// port with SO_REUSEPORT, by a hash of the client's address.
const reusePortBalances = true

// reusePort sets SO_REUSEPORT on a socket before it is bound. Package
// syscall lacks the constant on most Linux ports; golang.org/x/sys/unix
// (already in the build through memberlist and miekg/dns) has it for all.
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
