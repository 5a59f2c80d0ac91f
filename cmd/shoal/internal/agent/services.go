package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/services"
	"github.com/shoal-dev/shoal/node"
)

// localServices is the agent's service registry (package services): the
// config files' services and node checks, the runtime registrations kept
// in the data directory, the checks that decide their health. It
// publishes into the gossip node through publish, and serves the API
// (api.Services).
type localServices struct {
	reg     *services.Registry
	log     *slog.Logger
	metrics *serviceMetrics
}

// newServices builds the registry over cfg's state directory and installs
// cfg's services, so that the node starts with the registry's record.
// publish hands the registry's catalog to the node.
func newServices(cfg config.Config, logger *slog.Logger, publish func([]node.Service, []node.CheckState) error) (*localServices, error) {
	log := logger.With("component", "services")
	dir := cfg.StateDir()
	if dir == "" {
		lost := "services registered through the API, maintenance and ttl check status"
		if cfg.TagsFile == "" {
			lost += ", and tags set through the API,"
		}
		log.Warn("no data_dir: " + lost + " are lost when the agent stops")
	}
	ls := &localServices{log: log, metrics: newServiceMetrics()}
	reg, err := services.New(services.Options{
		DataDir:      dir,
		Logger:       log,
		Publish:      ls.metrics.counting(publish),
		OnTransition: ls.metrics.transition,
	})
	if err != nil {
		return nil, err
	}
	ls.reg = reg
	ls.metrics.view = reg
	regs, nodeChecks := registryConfig(cfg)
	if err := reg.SetConfig(regs, nodeChecks); err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	return ls, nil
}

// start runs the checks and publishing until stopped or ctx ends; the
// returned function stops them and waits.
func (s *localServices) start(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.reg.Run(ctx); err != nil {
			s.log.Error("service registry stopped", "err", err)
		}
	})
	return func() { cancel(); wg.Wait() }
}

// reload installs the reloaded config's services and node checks. On
// error nothing changed.
func (s *localServices) reload(cfg config.Config) error {
	regs, nodeChecks := registryConfig(cfg)
	if err := s.reg.SetConfig(regs, nodeChecks); err != nil {
		return fmt.Errorf("services: %w", err)
	}
	return nil
}

// initialCatalog is the record the node starts with: the registry's, in
// which checks that have not run yet have their initial status (critical
// unless configured), so a starting agent never advertises an instance as
// passing before its checks said so.
func (s *localServices) initialCatalog() ([]node.Service, []node.CheckState) {
	return s.reg.Catalog()
}

// publishCatalog hands the registry's instances and node checks to the
// gossip node: the one place the agent publishes them.
func (a *Agent) publishCatalog(svcs []node.Service, nodeChecks []node.CheckState) error {
	return a.node.SetCatalog(svcs, nodeChecks)
}

var _ api.Services = (*localServices)(nil)

// Local implements api.Services.
func (s *localServices) Local() []api.LocalService {
	sts := s.reg.Services()
	out := make([]api.LocalService, 0, len(sts))
	for _, st := range sts {
		ls := api.LocalService{ID: st.ID, Name: st.Name, Address: st.Address, Port: st.Port,
			Tags: st.Tags, Weight: st.Weight, Meta: st.Meta, Source: st.Source, Health: st.Health.String(),
			Maintenance: st.Maintenance, MaintenanceReason: st.MaintenanceReason,
			Checks: checkStatuses(st.Checks, st.Registration.Checks)}
		out = append(out, ls)
	}
	return out
}

// infoServices lists the local instances, config and runtime, with
// their health, for /v1/info.
func (s *localServices) infoServices() []api.Service {
	var out []api.Service
	for _, ls := range s.Local() {
		out = append(out, api.Service{ID: ls.ID, Name: ls.Name, Address: ls.Address, Port: uint16(ls.Port),
			Tags: ls.Tags, Weight: ls.Weight, Meta: ls.Meta, Health: ls.Health})
	}
	return out
}

// NodeChecks implements api.Services.
func (s *localServices) NodeChecks() []api.CheckStatus {
	return checkStatuses(s.reg.NodeChecks(), nil)
}

// checkStatuses converts results; defs give each check's kind.
func checkStatuses(rs []checks.Result, defs []checks.Definition) []api.CheckStatus {
	kinds := map[string]string{}
	for _, d := range defs {
		kinds[d.ID] = d.Kind()
	}
	out := make([]api.CheckStatus, 0, len(rs))
	for _, r := range rs {
		cs := api.CheckStatusFrom(r.CheckState)
		cs.Output, cs.Updated, cs.Kind = r.Output, r.Updated, kinds[r.ID]
		if r.ID == node.MaintenanceCheckID {
			cs.Kind = "maintenance"
		}
		out = append(out, cs)
	}
	return out
}

// Register implements api.Services: the request is checked with the
// config files' rules, then registered.
func (s *localServices) Register(r api.ServiceRegistration) error {
	def, err := ServiceDefFromAPI(r)
	if err != nil {
		return err
	}
	return apiErr(s.reg.Register(registration(def)))
}

// Deregister implements api.Services.
func (s *localServices) Deregister(id string) error {
	return apiErr(s.reg.Deregister(id))
}

// Maintenance implements api.Services.
func (s *localServices) Maintenance(serviceID string, enable bool, reason string) error {
	return apiErr(s.reg.SetMaintenance(serviceID, enable, reason))
}

// UpdateTTL implements api.Services.
func (s *localServices) UpdateTTL(checkID string, status node.Health, note string) error {
	return apiErr(s.reg.UpdateTTL(checkID, status, note))
}

// apiErr marks a registry error with the api kind that picks the HTTP
// status, keeping its message.
func apiErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, services.ErrNotFound), errors.Is(err, services.ErrNoCheck):
		return kinded{api.ErrNotFound, err}
	case errors.Is(err, services.ErrConflict):
		return kinded{api.ErrConflict, err}
	case errors.Is(err, services.ErrStorage):
		return kinded{api.ErrInternal, err}
	}
	return err
}

// kinded is err, also matching kind with errors.Is.
type kinded struct{ kind, err error }

func (e kinded) Error() string   { return e.err.Error() }
func (e kinded) Unwrap() []error { return []error{e.kind, e.err} }
