package checks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// definitionJSON is Definition as JSON (API bodies, the agent's state
// file): durations as Go duration strings ("1s", "500ms") and the
// initial status by name, as an operator writes them in config.
type definitionJSON struct {
	ID                     string              `json:"id"`
	Name                   string              `json:"name,omitempty"`
	ServiceID              string              `json:"service_id,omitempty"`
	HTTP                   string              `json:"http,omitempty"`
	Method                 string              `json:"method,omitempty"`
	Header                 map[string][]string `json:"header,omitempty"`
	TCP                    string              `json:"tcp,omitempty"`
	Args                   []string            `json:"args,omitempty"`
	TTL                    string              `json:"ttl,omitempty"`
	Interval               string              `json:"interval,omitempty"`
	Timeout                string              `json:"timeout,omitempty"`
	SuccessBeforePassing   int                 `json:"success_before_passing,omitempty"`
	FailuresBeforeCritical int                 `json:"failures_before_critical,omitempty"`
	// Initial is "passing", "warning" or "critical"; empty means the
	// default (critical).
	Initial string `json:"initial,omitempty"`
}

// MarshalJSON writes durations as strings and Initial by name.
func (d Definition) MarshalJSON() ([]byte, error) {
	j := definitionJSON{
		ID: d.ID, Name: d.Name, ServiceID: d.ServiceID,
		HTTP: d.HTTP, Method: d.Method, Header: d.Header, TCP: d.TCP, Args: d.Args,
		TTL: durationString(d.TTL), Interval: durationString(d.Interval), Timeout: durationString(d.Timeout),
		SuccessBeforePassing: d.SuccessBeforePassing, FailuresBeforeCritical: d.FailuresBeforeCritical,
	}
	if d.InitialSet {
		j.Initial = d.Initial.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON is MarshalJSON's inverse; a bad duration or status is an
// error naming the check and the field.
func (d *Definition) UnmarshalJSON(b []byte) error {
	var j definitionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Definition{
		ID: j.ID, Name: j.Name, ServiceID: j.ServiceID,
		HTTP: j.HTTP, Method: j.Method, Header: j.Header, TCP: j.TCP, Args: j.Args,
		SuccessBeforePassing: j.SuccessBeforePassing, FailuresBeforeCritical: j.FailuresBeforeCritical,
	}
	for _, f := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"ttl", j.TTL, &out.TTL}, {"interval", j.Interval, &out.Interval}, {"timeout", j.Timeout, &out.Timeout}} {
		if f.in == "" {
			continue
		}
		v, err := time.ParseDuration(f.in)
		if err != nil {
			return fmt.Errorf("check %q: %s: %w", j.ID, f.name, err)
		}
		*f.out = v
	}
	if j.Initial != "" {
		h, ok := node.ParseHealth(j.Initial)
		if !ok || h > node.HealthCritical {
			return fmt.Errorf("check %q: initial: %q is not passing, warning or critical", j.ID, j.Initial)
		}
		out.Initial, out.InitialSet = h, true
	}
	*d = out
	return nil
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
