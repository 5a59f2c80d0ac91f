package services

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/node"
)

// Registration is one service instance as the operator declares it, in a
// config file or at runtime (API, CLI).
type Registration struct {
	// ID is unique among the agent's instances; it defaults to Name.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Address is the instance's own IP; empty means the member's.
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Weight  int               `json:"weight,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Checks belong to this instance. A check's ID defaults to
	// "service:<id>", or "service:<id>:<n>" (n from 1) when it has
	// several; its ServiceID is the instance's ID.
	Checks []checks.Definition `json:"checks,omitempty"`
}

// maxMetaValue bounds one meta value; the gossiped record carries it.
const maxMetaValue = 512

// normalized returns r with its defaults filled in: ID, and each check's
// ID and ServiceID. It copies what it changes, never the caller's slices.
func (r Registration) normalized() Registration {
	if r.ID == "" {
		r.ID = r.Name
	}
	r.Tags = slices.Clone(r.Tags)
	r.Meta = maps.Clone(r.Meta)
	r.Checks = slices.Clone(r.Checks)
	for i := range r.Checks {
		c := &r.Checks[i]
		if c.ID == "" {
			c.ID = "service:" + r.ID
			if len(r.Checks) > 1 {
				c.ID += ":" + strconv.Itoa(i+1)
			}
		}
		if c.ServiceID == "" {
			c.ServiceID = r.ID
		}
	}
	return r
}

// validate reports every problem of a normalized registration, each
// naming the service and the field.
func (r Registration) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("service %q: %s: %s", r.ID, field, fmt.Sprintf(format, args...))
	}
	var errs []error
	if !node.ValidTagKey(r.Name) {
		errs = append(errs, bad("name", "%q is not 1-64 letters, digits, '_', '.' or '-'", r.Name))
	}
	if !node.ValidTagKey(r.ID) {
		errs = append(errs, bad("id", "%q is not 1-64 letters, digits, '_', '.' or '-'", r.ID))
	}
	if r.Port < 1 || r.Port > 65535 {
		errs = append(errs, bad("port", "%d is not in 1-65535", r.Port))
	}
	if r.Address != "" && net.ParseIP(r.Address) == nil {
		errs = append(errs, bad("address", "%q is not an IP address", r.Address))
	}
	if r.Weight < 0 {
		errs = append(errs, bad("weight", "%d is negative", r.Weight))
	}
	for _, tag := range r.Tags {
		if !node.ValidTagKey(tag) {
			errs = append(errs, bad("tags", "%q is not 1-64 letters, digits, '_', '.' or '-'", tag))
		}
	}
	for k, v := range r.Meta {
		if !node.ValidTagKey(k) {
			errs = append(errs, bad("meta", "key %q is not 1-64 letters, digits, '_', '.' or '-'", k))
		}
		if len(v) > maxMetaValue {
			errs = append(errs, bad("meta", "value of %q is %d bytes, over %d", k, len(v), maxMetaValue))
		}
	}
	for _, c := range r.Checks {
		errs = append(errs, validateCheck(c))
		if c.ServiceID != r.ID {
			errs = append(errs, bad("checks", "check %q names service %q", c.ID, c.ServiceID))
		}
	}
	return errors.Join(errs...)
}

// validateCheck validates a check with the registry's own rule on top:
// the maintenance check's ID is reserved.
func validateCheck(c checks.Definition) error {
	if c.ID == node.MaintenanceCheckID {
		return fmt.Errorf("check %q: id: is reserved for maintenance mode", c.ID)
	}
	return c.Validate()
}

// normalizeNodeChecks fills node-level check IDs: the Name, else
// "node:<n>" (n from 1).
func normalizeNodeChecks(defs []checks.Definition) []checks.Definition {
	defs = slices.Clone(defs)
	for i := range defs {
		if defs[i].ID == "" {
			defs[i].ID = defs[i].Name
		}
		if defs[i].ID == "" {
			defs[i].ID = "node:" + strconv.Itoa(i+1)
		}
	}
	return defs
}
