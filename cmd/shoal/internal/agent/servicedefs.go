package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/checks"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/services"
)

// The three shapes of a service instance: the API's wire type
// (api.ServiceRegistration), the config files' definition
// (config.ServiceDef, whose Validate is the one set of rules) and the
// registry's (services.Registration). An API request goes through the
// config's definition, so it is refused for the same reasons, in the same
// words, as a config file.

// ServiceDefFromAPI converts a registration request into the config's
// definition, with the defaults filled and the config's rules checked.
// Every problem is reported. The CLI calls it too, to refuse a bad
// `shoal services register` before asking the agent.
func ServiceDefFromAPI(r api.ServiceRegistration) (config.ServiceDef, error) {
	d := config.ServiceDef{ID: r.ID, Name: r.Name, Address: r.Address, Port: r.Port,
		Tags: r.Tags, Weight: 1, Meta: r.Meta}
	if r.Weight != nil {
		d.Weight = *r.Weight
	}
	var errs []error
	for i, c := range r.Checks {
		cd, err := checkDefFromAPI(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("check[%d]: %w", i, err))
		}
		d.Checks = append(d.Checks, cd)
	}
	if len(errs) > 0 {
		return config.ServiceDef{}, errors.Join(errs...)
	}
	d.SetDefaults()
	if err := d.Validate(); err != nil {
		return config.ServiceDef{}, err
	}
	if err := errors.Join(config.CheckIDs([]config.ServiceDef{d}, nil)...); err != nil {
		return config.ServiceDef{}, err
	}
	return d, nil
}

// checkDefFromAPI parses the durations and the initial status; Validate
// does the rest.
func checkDefFromAPI(c api.CheckDefinition) (config.CheckDef, error) {
	d := config.CheckDef{ID: c.ID, Name: c.Name, HTTP: c.HTTP, Method: c.Method, Header: c.Header,
		TCP: c.TCP, Args: c.Args, SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
	var errs []error
	for _, f := range []struct {
		name, s string
		dst     *time.Duration
	}{{"ttl", c.TTL, &d.TTL}, {"interval", c.Interval, &d.Interval}, {"timeout", c.Timeout, &d.Timeout}} {
		if f.s == "" {
			continue
		}
		v, err := time.ParseDuration(f.s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s %q is not a positive duration (like 500ms, 5s, 1m)", f.name, f.s))
			continue
		}
		*f.dst = v
	}
	if c.InitialStatus != "" {
		h, err := config.ParseInitialStatus(c.InitialStatus)
		if err != nil {
			errs = append(errs, fmt.Errorf("initial_status: %w", err))
		}
		d.Initial, d.InitialSet = h, err == nil
	}
	return d, errors.Join(errs...)
}

// registration converts a validated config definition for the registry;
// each check belongs to the instance (ServiceID = its ID).
func registration(d config.ServiceDef) services.Registration {
	reg := services.Registration{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port,
		Tags: d.Tags, Weight: d.Weight, Meta: d.Meta}
	for _, c := range d.Checks {
		def := checkDefinition(c)
		def.ServiceID = d.ID
		reg.Checks = append(reg.Checks, def)
	}
	return reg
}

// checkDefinition converts one config check for package checks.
func checkDefinition(c config.CheckDef) checks.Definition {
	return checks.Definition{ID: c.ID, Name: c.Name,
		HTTP: c.HTTP, Method: c.Method, Header: c.Header, TCP: c.TCP, Args: c.Args, TTL: c.TTL,
		Interval: c.Interval, Timeout: c.Timeout,
		SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical,
		Initial: c.Initial, InitialSet: c.InitialSet}
}

// registryConfig converts the config files' services and node checks.
func registryConfig(cfg config.Config) ([]services.Registration, []checks.Definition) {
	regs := make([]services.Registration, 0, len(cfg.ServiceDefs))
	for _, d := range cfg.ServiceDefs {
		regs = append(regs, registration(d))
	}
	var nodeChecks []checks.Definition
	for _, c := range cfg.NodeChecks {
		nodeChecks = append(nodeChecks, checkDefinition(c))
	}
	return regs, nodeChecks
}
