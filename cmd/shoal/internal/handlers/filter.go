// Package handlers runs event handler scripts the way Serf does, so Serf
// handlers work unchanged: the same filters, the same environment, the same
// stdin. Unlike Serf, each script has its own bounded queue and a timeout,
// so a slow or hanging script delays nobody but itself.
package handlers

import (
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/node"
)

// Filter selects events: Event is an event type name or "*"; Name, for
// "user" and "query", narrows to one event or query name.
type Filter struct {
	Event string
	Name  string
}

var eventNames = map[string]bool{
	"member-join": true, "member-leave": true, "member-failed": true,
	"member-update": true, "member-reap": true, "user": true, "query": true, "health": true, "*": true,
}

// ParseFilters parses Serf's comma-separated filter list, like
// "member-join,member-leave,user:deploy".
func ParseFilters(s string) ([]Filter, error) {
	var out []Filter
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		f := Filter{Event: part}
		for _, kind := range []string{"user", "query"} {
			if name, ok := strings.CutPrefix(part, kind+":"); ok {
				if name == "" {
					return nil, fmt.Errorf("event filter %q names no %s event", part, kind)
				}
				f = Filter{Event: kind, Name: name}
			}
		}
		if !eventNames[f.Event] {
			return nil, fmt.Errorf("unknown event filter %q (want member-join, member-leave, member-failed, member-update, member-reap, user[:NAME], query[:NAME], health or *)", part)
		}
		out = append(out, f)
	}
	return out, nil
}

// Match reports whether the filter selects e.
func (f Filter) Match(e node.Event) bool {
	if f.Event == "*" {
		return true
	}
	if e.EventType().String() != f.Event {
		return false
	}
	if f.Name == "" {
		return true
	}
	switch e := e.(type) {
	case *node.UserEvent:
		return e.Name == f.Name
	case *node.Query:
		return e.Name == f.Name
	}
	return false
}

// Script is one -event-handler: filters and the shell command to run.
type Script struct {
	Spec    string // as written, for logs
	Filters []Filter
	Command string
}

// ParseScript parses [FILTER=]SCRIPT. Like Serf, no "=" means every event;
// the text before the first "=" must be a filter list.
func ParseScript(spec string) (Script, error) {
	filter, cmd, ok := strings.Cut(spec, "=")
	if !ok {
		filter, cmd = "*", spec
	}
	if strings.TrimSpace(cmd) == "" {
		return Script{}, fmt.Errorf("event handler %q has no script", spec)
	}
	fs, err := ParseFilters(filter)
	if err != nil {
		return Script{}, fmt.Errorf("event handler %q: %w", spec, err)
	}
	return Script{Spec: spec, Filters: fs, Command: cmd}, nil
}

// Match reports whether any of the script's filters selects e.
func (s Script) Match(e node.Event) bool {
	for _, f := range s.Filters {
		if f.Match(e) {
			return true
		}
	}
	return false
}
