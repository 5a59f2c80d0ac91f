package config

import (
	"fmt"

	"github.com/shoal-dev/shoal/node"
)

// sizeLimits applies query_size_limit, query_response_size_limit and
// user_event_size_limit, Serf's keys, within node's bound.
func (a *applier) sizeLimits(c *Config, fc *fileConfig) {
	for _, l := range []struct {
		key      string
		src, dst *int
	}{
		{"query_size_limit", fc.QuerySizeLimit, &c.QuerySizeLimit},
		{"query_response_size_limit", fc.QueryResponseSizeLimit, &c.QueryResponseSizeLimit},
		{"user_event_size_limit", fc.UserEventSizeLimit, &c.UserEventSizeLimit},
	} {
		if l.src == nil {
			continue
		}
		if *l.src < 1 || *l.src > node.MaxSizeLimit {
			a.fail(l.key, fmt.Errorf("%d bytes is outside 1-%d", *l.src, node.MaxSizeLimit))
			continue
		}
		*l.dst = *l.src
	}
}
