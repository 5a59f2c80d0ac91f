// Package backends adapts shoal's renderer to load balancers: each adapter
// validates a candidate configuration file with the load balancer itself and
// reloads the running process. HAProxy's adapter also applies changes of
// server lines through HAProxy's Runtime API, without a reload.
//
// Build one with New from a Config (what the agent decodes from a template
// block), or with NewHAProxy, NewNginx or NewCommand. Tests that need a real
// load balancer to reload start one with package backendtest.
package backends

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Backend is one load balancer. Every method runs external commands with
// the earlier of the context's deadline and the backend's Timeout, kills
// them (with everything they started) when it passes, and then returns an
// error wrapping context.DeadlineExceeded or context.Canceled. The adapters
// are safe for concurrent use, though a renderer should not reload one load
// balancer from two goroutines at once. Only HAProxy holds state between
// calls (see RuntimeApplier).
type Backend interface {
	// Name is the backend's kind: "haproxy", "nginx" or "command".
	Name() string
	// Validate checks the candidate file at path, which is not yet installed.
	// The returned error carries the load balancer's own message.
	Validate(ctx context.Context, path string) error
	// Reload makes the running load balancer use the installed file and
	// reports whether it did: nil only once the load balancer runs the new
	// configuration, an error when it kept the old one or the outcome
	// could not be confirmed in time.
	Reload(ctx context.Context) error
}

// RuntimeApplier is a Backend that can apply some configuration changes to
// the running load balancer without a reload, and keep checking that what
// runs matches the installed file. A renderer calls Apply instead of
// Reload when it has installed a changed file whose predecessor the load
// balancer runs, and Reconcile from time to time. Calls are not made
// concurrently.
type RuntimeApplier interface {
	Backend
	// Apply makes the running load balancer use candidate, the file just
	// installed in place of running, and returns true once it does. false
	// with an error saying why means the change needs a reload. hints
	// carry what the renderer knows and the files cannot say.
	Apply(ctx context.Context, running, candidate []byte, hints ApplyHints) (applied bool, err error)
	// Reconcile finishes work left by earlier applies and compares what
	// runs with installed, the file on disk, repairing a difference (by a
	// reload). It returns the difference it found, "" if none.
	Reconcile(ctx context.Context, installed []byte) (drift string, err error)
	// NextReconcile is how soon Reconcile wants to run again; 0 or less:
	// never on its own.
	NextReconcile() time.Duration
}

// ApplyHints is what the renderer knows about a change that the two files
// cannot say. A file only shows that a server is gone, not why; the zero
// value leaves the backend to guess (see HAProxy.Apply).
type ApplyHints struct {
	// Failed lists the addresses (IP and port) of instances whose member
	// failed. A server removed from the file at one of them is put in
	// maintenance at once and its sessions are shut: the machine behind it
	// is gone, and waiting on its sessions only delays their errors. Any
	// other removed server (its member left gracefully, or stopped
	// offering the service) drains first: no new connections, while its
	// sessions finish, up to the drain timeout.
	Failed []netip.AddrPort
	// Critical lists the addresses of instances whose health check is
	// critical while their member is alive: they go the way of failed
	// ones (maintenance at once, sessions shut, no reload), since the
	// instance said it fails. An instance in maintenance is not listed: a
	// planned stop, it drains like a graceful leave.
	Critical []netip.AddrPort
}

// shutAtOnce reports whether addr:port is among the failed or critical
// instances.
func (h ApplyHints) shutAtOnce(addr netip.Addr, port int) bool {
	if port <= 0 || port >= 1<<16 {
		return false
	}
	ap := netip.AddrPortFrom(addr.Unmap(), uint16(port))
	return slices.Contains(h.Failed, ap) || slices.Contains(h.Critical, ap)
}
