package services

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/node"
)

// SetConfig installs the services and node checks of the config files, at
// start and on SIGHUP. Config services are replaced; runtime ones, and
// maintenance and ttl state of what still exists, are kept; a check whose
// definition did not change keeps its state. A runtime registration with
// the ID of a config service gives way to it (logged). On any error
// nothing changes.
func (r *Registry) SetConfig(services []Registration, nodeChecks []checks.Definition) error {
	var errs []error
	cfg := make([]Registration, 0, len(services))
	seen := map[string]bool{}
	for _, s := range services {
		reg := s.normalized()
		if err := reg.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[reg.ID] {
			errs = append(errs, fmt.Errorf("service %q: id: defined twice in the config", reg.ID))
		}
		seen[reg.ID] = true
		cfg = append(cfg, reg)
	}
	nodeChecks = normalizeNodeChecks(nodeChecks)
	for _, d := range nodeChecks {
		errs = append(errs, validateCheck(d))
		if d.ServiceID != "" {
			errs = append(errs, fmt.Errorf("check %q: service_id: a node check belongs to no service", d.ID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.state.clone()
	next.Runtime = slices.DeleteFunc(next.Runtime, func(reg Registration) bool {
		if seen[reg.ID] {
			r.logger.Warn("a config service replaces the runtime registration with its id", "service", reg.ID)
		}
		return seen[reg.ID]
	})
	wasConfigured := r.configured
	r.configured = true
	if err := r.commit(cfg, nodeChecks, next); err != nil {
		r.configured = wasConfigured
		return err
	}
	return nil
}

// Register adds or replaces (same ID) a runtime registration and keeps it
// in the state file. The ID of a config service is refused.
func (r *Registry) Register(s Registration) error {
	reg := s.normalized()
	if err := reg.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.configIndex(reg.ID) >= 0 {
		return withKind(ErrConflict, fmt.Errorf("service %q: id: already defined in the config files", reg.ID))
	}
	next := r.state.clone()
	next.Runtime = slices.DeleteFunc(next.Runtime, func(old Registration) bool { return old.ID == reg.ID })
	next.Runtime = append(next.Runtime, reg)
	slices.SortFunc(next.Runtime, byID)
	return r.commit(r.config, r.nodeChecks, next)
}

// Deregister removes a runtime registration, with its maintenance and ttl
// state. A config service cannot be removed this way.
func (r *Registry) Deregister(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.configIndex(id) >= 0 {
		return withKind(ErrConflict, fmt.Errorf("service %q is defined in the config files: remove it there and reload (SIGHUP)", id))
	}
	i := slices.IndexFunc(r.state.Runtime, func(reg Registration) bool { return reg.ID == id })
	if i < 0 {
		return withKind(ErrNotFound, fmt.Errorf("service %q: no such service", id))
	}
	next := r.state.clone()
	for _, d := range next.Runtime[i].Checks {
		delete(next.TTL, d.ID)
	}
	delete(next.ServiceMaintenance, id)
	next.Runtime = slices.Delete(next.Runtime, i, i+1)
	return r.commit(r.config, r.nodeChecks, next)
}

func (r *Registry) configIndex(id string) int {
	return slices.IndexFunc(r.config, func(reg Registration) bool { return reg.ID == id })
}

// SetMaintenance puts the node (serviceID "") or one service into
// maintenance, or takes it out, and keeps that in the state file.
// Enabling again updates the reason; disabling what is not in
// maintenance is no error.
func (r *Registry) SetMaintenance(serviceID string, enable bool, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if serviceID != "" && r.configIndex(serviceID) < 0 &&
		!slices.ContainsFunc(r.state.Runtime, func(reg Registration) bool { return reg.ID == serviceID }) {
		return withKind(ErrNotFound, fmt.Errorf("maintenance: service %q: no such service", serviceID))
	}
	next := r.state.clone()
	m := maintenance{Reason: reason, Since: time.Now().UTC()}
	switch {
	case serviceID == "" && enable:
		if next.NodeMaintenance != nil && next.NodeMaintenance.Reason == reason {
			return nil
		}
		next.NodeMaintenance = &m
	case serviceID == "":
		next.NodeMaintenance = nil
	case enable:
		if old, ok := next.ServiceMaintenance[serviceID]; ok && old.Reason == reason {
			return nil
		}
		next.ServiceMaintenance[serviceID] = m
	default:
		delete(next.ServiceMaintenance, serviceID)
	}
	return r.commit(r.config, r.nodeChecks, next)
}

// UpdateTTL sets a ttl check's status and note, restarts its TTL, and
// keeps the status and note in the state file, so they survive a restart
// (the TTL then starts over). A TTL that expires is not written: after a
// restart the check has the last status pushed to it, for one TTL.
func (r *Registry) UpdateTTL(checkID string, status node.Health, note string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.runner.Result(checkID); !ok {
		return withKind(ErrNoCheck, fmt.Errorf("check %q: no such check", checkID))
	}
	if err := r.runner.UpdateTTL(checkID, status, note); err != nil {
		return err
	}
	next := r.state.clone()
	next.TTL[checkID] = ttlState{Status: status.String(), Note: note}
	if err := saveState(r.path, next); err != nil {
		return withKind(ErrStorage, fmt.Errorf("check %q: status set but not kept for a restart: %w", checkID, err))
	}
	r.state = next
	return nil
}
