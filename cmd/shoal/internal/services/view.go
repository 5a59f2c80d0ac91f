package services

import (
	"maps"
	"net"
	"slices"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/node"
)

// Source values of ServiceStatus.
const (
	SourceConfig  = "config"
	SourceRuntime = "runtime"
)

// ServiceStatus is one local instance as the API and CLI show it.
type ServiceStatus struct {
	// Registration has its defaults filled in (ID, check IDs).
	Registration
	Source string // SourceConfig or SourceRuntime
	// Health is the effective health: the worst of the instance's checks,
	// its maintenance, and the node's checks and maintenance.
	Health node.Health
	// Checks are the instance's own check results, maintenance included
	// (ID node.MaintenanceCheckID) while it is on.
	Checks            []checks.Result
	Maintenance       bool
	MaintenanceReason string
}

// defaultMaintenanceNote is the note of a maintenance check whose
// operator gave no reason.
const defaultMaintenanceNote = "maintenance mode"

// Services returns the local instances: config ones in config order, then
// runtime ones by ID.
func (r *Registry) Services() []ServiceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.services()
}

// services is Services under r.mu.
func (r *Registry) services() []ServiceStatus {
	nodeWorst := node.Worst(healths(r.nodeResults())...)
	out := make([]ServiceStatus, 0, len(r.config)+len(r.state.Runtime))
	for _, src := range []struct {
		regs []Registration
		name string
	}{{r.config, SourceConfig}, {r.state.Runtime, SourceRuntime}} {
		for _, reg := range src.regs {
			st := ServiceStatus{Registration: reg, Source: src.name}
			for _, d := range reg.Checks {
				if res, ok := r.runner.Result(d.ID); ok {
					st.Checks = append(st.Checks, res)
				}
			}
			if m, ok := r.state.ServiceMaintenance[reg.ID]; ok {
				st.Maintenance, st.MaintenanceReason = true, m.Reason
				st.Checks = append(st.Checks, maintenanceResult(reg.ID, m))
			}
			st.Health = node.Worst(append(healths(st.Checks), nodeWorst)...)
			out = append(out, st)
		}
	}
	return out
}

// NodeChecks returns the node-level check results, maintenance included
// while it is on.
func (r *Registry) NodeChecks() []checks.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodeResults()
}

// nodeResults is NodeChecks under r.mu.
func (r *Registry) nodeResults() []checks.Result {
	var out []checks.Result
	for _, d := range r.nodeChecks {
		if res, ok := r.runner.Result(d.ID); ok {
			out = append(out, res)
		}
	}
	if m := r.state.NodeMaintenance; m != nil {
		out = append(out, maintenanceResult("", *m))
	}
	return out
}

// maintenanceResult is maintenance as Consul models it: a check with a
// reserved ID, in maintenance status, whose note is the reason.
func maintenanceResult(serviceID string, m maintenance) checks.Result {
	name := "Node maintenance mode"
	if serviceID != "" {
		name = "Service maintenance mode"
	}
	note := m.Reason
	if note == "" {
		note = defaultMaintenanceNote
	}
	return checks.Result{
		CheckState: node.CheckState{ID: node.MaintenanceCheckID, Name: name, ServiceID: serviceID, Status: node.HealthMaintenance, Note: note},
		Output:     m.Reason,
		Updated:    m.Since,
	}
}

func healths(rs []checks.Result) []node.Health {
	out := make([]node.Health, len(rs))
	for i, res := range rs {
		out[i] = res.Status
	}
	return out
}

func states(rs []checks.Result) []node.CheckState {
	out := make([]node.CheckState, len(rs))
	for i, res := range rs {
		out[i] = res.CheckState
	}
	return out
}

// Catalog is what Publish is given: the instances with their health and
// check states, and the node-level check states. The agent starts its
// gossip node with it, so the first record it advertises is already the
// registry's (checks that have not run yet are not passing).
func (r *Registry) Catalog() ([]node.Service, []node.CheckState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	svcs := r.services()
	out := make([]node.Service, len(svcs))
	for i, s := range svcs {
		out[i] = node.Service{
			ID:      s.ID,
			Name:    s.Name,
			Address: net.ParseIP(s.Address), // validated; nil when empty
			Port:    uint16(s.Port),
			Tags:    slices.Clone(s.Tags),
			Weight:  s.Weight,
			Meta:    maps.Clone(s.Meta),
			Health:  s.Health,
			Checks:  states(s.Checks),
		}
	}
	return out, states(r.nodeResults())
}
