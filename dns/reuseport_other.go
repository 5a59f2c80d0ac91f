//go:build !linux

package dns

import (
	"errors"
	"syscall"
)

// reusePortBalances: elsewhere SO_REUSEPORT does not spread datagrams (or
// is missing), so one socket is read by several loops.
const reusePortBalances = false

func reusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New("dns: SO_REUSEPORT is only used on linux")
}
