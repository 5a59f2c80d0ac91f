package node

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// The trust boundary of the membership view. Every member memberlist
// reports (an alive message by UDP, or a push/pull by TCP) passes
// checkMember before memberlist stores it, so the snapshot file, DNS, the
// CLI, handlers and templates only ever see names, addresses and tags that
// this node would have accepted in its own Config. The rules themselves
// live where the local config is checked (validName, decodeMeta); this
// file only applies them to remote data.

// checkMember reports why a remote member may not enter the view, or nil.
func checkMember(mn *memberlist.Node) error {
	if !ValidName(mn.Name) {
		return fmt.Errorf("name %q: must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", clip(mn.Name))
	}
	if err := checkMemberAddr(mn.Addr, mn.Port); err != nil {
		return err
	}
	if _, err := decodeMeta(mn.Meta); err != nil {
		return err
	}
	return nil
}

// checkMemberAddr accepts a unicast IPv4 or IPv6 address and a port, the
// only thing a member can be reached on.
func checkMemberAddr(addr []byte, port uint16) error {
	if len(addr) != net.IPv4len && len(addr) != net.IPv6len {
		return fmt.Errorf("address of %d bytes: want 4 (IPv4) or 16 (IPv6)", len(addr))
	}
	ip := net.IP(addr)
	if ip.IsUnspecified() || ip.IsMulticast() || ip.Equal(net.IPv4bcast) {
		return fmt.Errorf("address %s: not a unicast address", ip)
	}
	if port == 0 {
		return fmt.Errorf("port 0 at %s: want 1-65535", ip)
	}
	return nil
}

// clip shortens a remote string for an error or a log line; a forged name
// can be as long as a UDP packet.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// rejectMember counts a member that failed checkMember and logs it at
// WARN, rate-limited so that a flood of forged names cannot flood the log.
func (n *Node) rejectMember(mn *memberlist.Node, via string, err error) {
	n.stats.rejectedMembers.Add(1)
	name := clip(mn.Name)
	ok, suppressed := n.rejectLog.allow(name, time.Now())
	if suppressed > 0 {
		n.logger.Warn("rejected member log lines suppressed", "suppressed", suppressed,
			"interval", rejectLogInterval, "hint", "Stats().RejectedMembers counts every rejection")
	}
	if ok {
		n.logger.Warn("rejected member: remote data breaks this node's rules; not added",
			"member", name, "addr", net.IP(mn.Addr).String(), "port", mn.Port, "via", via, "err", err)
	}
}

// rejectLogInterval and rejectLogBurst bound the WARN lines about rejected
// members: one per name per interval, and at most rejectLogBurst names per
// interval; the rest are counted and summarised once.
const (
	rejectLogInterval = time.Minute
	rejectLogBurst    = 10
)

// rejectLimiter remembers which names were logged in the current window.
// Its memory is bounded by rejectLogBurst, whatever is sent.
type rejectLimiter struct {
	mu         sync.Mutex
	window     time.Time
	logged     map[string]bool
	suppressed int
}

// allow reports whether to log name now, and how many lines the window
// that just ended suppressed (to be reported once).
func (l *rejectLimiter) allow(name string, now time.Time) (ok bool, suppressedBefore int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged == nil || now.Sub(l.window) >= rejectLogInterval {
		suppressedBefore = l.suppressed
		l.window, l.logged, l.suppressed = now, map[string]bool{}, 0
	}
	if l.logged[name] || len(l.logged) >= rejectLogBurst {
		l.suppressed++
		return false, suppressedBefore
	}
	l.logged[name] = true
	return true, suppressedBefore
}
