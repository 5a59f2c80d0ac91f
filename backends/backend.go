// Package backends adapts shoal's renderer to load balancers: each adapter
// validates a candidate configuration file with the load balancer itself and
// reloads the running process.
package backends

import "context"

// Backend is one load balancer. Every method runs external commands with
// the context's deadline.
type Backend interface {
	// Name is the backend's kind: "haproxy", "nginx" or "command".
	Name() string
	// Validate checks the candidate file at path, which is not yet installed.
	// The returned error carries the load balancer's own message.
	Validate(ctx context.Context, path string) error
	// Reload makes the running load balancer use the installed file and
	// reports whether it did.
	Reload(ctx context.Context) error
}
