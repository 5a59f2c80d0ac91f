// Package checks runs Consul-style health checks (http, tcp, script, ttl)
// and turns their results into node.Health, with Consul's thresholds
// (success_before_passing, failures_before_critical). It knows nothing of
// services or gossip: the agent's registry hands it Definitions and reads
// back Results.
package checks

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// MinInterval is the shortest interval of a periodic check: below it a
// check is a load generator, not a health signal.
const MinInterval = 100 * time.Millisecond

// MaxTimeout is the default timeout's ceiling: a check's timeout defaults
// to min(MaxTimeout, Interval).
const MaxTimeout = 10 * time.Second

// Definition is one check. Exactly one of HTTP, TCP, Args or TTL says its
// kind. Its JSON form (json.go) writes durations as strings ("1s").
type Definition struct {
	// ID is unique among the checks of one agent; the registry fills it
	// in when the operator leaves it out.
	ID        string
	Name      string
	ServiceID string

	// HTTP is a URL (http or https) fetched with Method (default GET):
	// 2xx is passing, 429 warning, anything else critical.
	HTTP   string
	Method string
	Header map[string][]string
	// TCP is "host:port": passing when a connection opens within Timeout.
	TCP string
	// Args is a command run without a shell: exit 0 is passing, 1
	// warning, anything else critical.
	Args []string
	// TTL makes a check whose status is pushed (UpdateTTL); without an
	// update for TTL it turns critical.
	TTL time.Duration

	// Interval is the period of http, tcp and script checks; Timeout
	// defaults to min(MaxTimeout, Interval).
	Interval time.Duration
	Timeout  time.Duration

	// SuccessBeforePassing and FailuresBeforeCritical are Consul's
	// thresholds; 0 and 1 both mean "at once". See threshold.
	SuccessBeforePassing   int
	FailuresBeforeCritical int

	// Initial is the status before the first result, used only when
	// InitialSet: the zero Health is passing, and a check must start
	// critical unless the operator says otherwise.
	Initial    node.Health
	InitialSet bool
}

// Kind names a check's kind: "http", "tcp", "script" or "ttl" ("" when
// none or several are set, which Validate rejects).
func (d Definition) Kind() string {
	kind, n := "", 0
	for _, k := range []struct {
		set  bool
		name string
	}{{d.HTTP != "", "http"}, {d.TCP != "", "tcp"}, {len(d.Args) > 0, "script"}, {d.TTL != 0, "ttl"}} {
		if k.set {
			kind, n = k.name, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return kind
}

// EffectiveTimeout is the timeout a periodic check runs with.
func (d Definition) EffectiveTimeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return min(MaxTimeout, d.Interval)
}

// InitialStatus is the status a new check starts with: critical unless
// the operator set one.
func (d Definition) InitialStatus() node.Health {
	if d.InitialSet {
		return d.Initial
	}
	return node.HealthCritical
}

// Validate reports every problem with d at once, each naming the check
// and the field.
func (d Definition) Validate() error {
	id := d.ID
	if id == "" {
		id = d.Name
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("check %q: %s: %s", id, field, fmt.Sprintf(format, args...))
	}
	var errs []error
	if d.ID == "" {
		errs = append(errs, bad("id", "is empty"))
	}
	kind := d.Kind()
	if kind == "" {
		errs = append(errs, bad("kind", "set exactly one of http, tcp, args or ttl"))
	}
	errs = append(errs, d.validateTarget(bad)...)
	if kind != "ttl" && kind != "" {
		if d.Interval < MinInterval {
			errs = append(errs, bad("interval", "%s is below the minimum %s", d.Interval, MinInterval))
		}
		if d.Timeout < 0 {
			errs = append(errs, bad("timeout", "%s must be positive", d.Timeout))
		}
	}
	if d.TTL < 0 {
		errs = append(errs, bad("ttl", "%s must be positive", d.TTL))
	}
	if d.SuccessBeforePassing < 0 {
		errs = append(errs, bad("success_before_passing", "%d is negative", d.SuccessBeforePassing))
	}
	if d.FailuresBeforeCritical < 0 {
		errs = append(errs, bad("failures_before_critical", "%d is negative", d.FailuresBeforeCritical))
	}
	if d.InitialSet && d.Initial > node.HealthCritical {
		errs = append(errs, bad("initial", "%s is not passing, warning or critical", d.Initial))
	}
	return errors.Join(errs...)
}

// validateTarget checks the kind-specific field that is set.
func (d Definition) validateTarget(bad func(field, format string, args ...any) error) []error {
	var errs []error
	if d.HTTP != "" {
		u, err := url.Parse(d.HTTP)
		switch {
		case err != nil:
			errs = append(errs, bad("http", "%v", err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, bad("http", "%q is not an http or https URL", d.HTTP))
		case u.Host == "":
			errs = append(errs, bad("http", "%q has no host", d.HTTP))
		}
	}
	if d.Method != "" && d.HTTP == "" {
		errs = append(errs, bad("method", "is set without http"))
	}
	if d.TCP != "" {
		if host, port, err := net.SplitHostPort(d.TCP); err != nil || host == "" || port == "" {
			errs = append(errs, bad("tcp", "%q is not host:port", d.TCP))
		}
	}
	if len(d.Args) > 0 && d.Args[0] == "" {
		errs = append(errs, bad("args", "the command (args[0]) is empty"))
	}
	return errs
}
