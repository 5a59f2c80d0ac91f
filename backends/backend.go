// Package backends adapts shoal's renderer to load balancers: each adapter
// validates a candidate configuration file with the load balancer itself and
// reloads the running process.
//
// Build one with New from a Config (what the agent decodes from a template
// block), or with NewHAProxy, NewNginx or NewCommand. Tests that need a real
// load balancer to reload start one with package backendtest.
package backends

import "context"

// Backend is one load balancer. Every method runs external commands with
// the earlier of the context's deadline and the backend's Timeout, kills
// them (with everything they started) when it passes, and then returns an
// error wrapping context.DeadlineExceeded or context.Canceled. The adapters
// hold no state between calls and are safe for concurrent use, though a
// renderer should not reload one load balancer from two goroutines at once.
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
