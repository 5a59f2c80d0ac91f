package dns

import "syscall"

// reusePortBalances: Linux spreads datagrams over the sockets that share a
// port with SO_REUSEPORT, by a hash of the client's address.
const reusePortBalances = true

// reusePort sets SO_REUSEPORT on a socket before it is bound. Package
// syscall lacks the constant on most Linux ports and internal/deps keeps
// golang.org/x/sys out of package dns, so soReusePort copies it from
// x/sys/unix.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
