package backends

import (
	"errors"
	"fmt"
	"slices"
)

// Kinds are the backend kinds New knows, as the agent's configuration
// spells them (backend = "haproxy").
var Kinds = []string{"haproxy", "nginx", "command"}

// Config selects one backend and configures it: the agent decodes a
// template block's backend settings into it. Only the block of the selected
// Kind may be set.
type Config struct {
	Kind    string
	HAProxy HAProxyConfig
	Nginx   NginxConfig
	Command CommandConfig
}

// Validate reports every invalid option at once, each error naming its
// option: an unknown kind, options of a kind that is not selected (most
// likely a typo in the kind), and the selected kind's own problems.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains(Kinds, c.Kind) {
		errs = append(errs, fmt.Errorf("backend: %q is not a backend kind; want one of %q", c.Kind, Kinds))
	}
	set := map[string]bool{
		"haproxy": !c.HAProxy.isZero(),
		"nginx":   !c.Nginx.isZero(),
		"command": !c.Command.isZero(),
	}
	for _, kind := range Kinds {
		if set[kind] && kind != c.Kind {
			errs = append(errs, fmt.Errorf("%s: options are set but the backend is %q", kind, c.Kind))
		}
	}
	switch c.Kind {
	case "haproxy":
		errs = append(errs, c.HAProxy.Validate())
	case "nginx":
		errs = append(errs, c.Nginx.Validate())
	case "command":
		errs = append(errs, c.Command.Validate())
	}
	return errors.Join(errs...)
}

// New returns the backend that cfg selects, after validating cfg.
func New(cfg Config) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case "haproxy":
		return NewHAProxy(cfg.HAProxy)
	case "nginx":
		return NewNginx(cfg.Nginx)
	default:
		return NewCommand(cfg.Command)
	}
}

func (c HAProxyConfig) isZero() bool {
	return c.Binary == "" && c.MasterSocket == "" && len(c.ReloadCommand) == 0 && c.Timeout == 0 && !c.NoReload &&
		c.StatsSocket == "" && !c.NoRuntime && c.DrainTimeout == 0 && c.ReconcileInterval == 0
}

func (c NginxConfig) isZero() bool {
	return c == NginxConfig{}
}

func (c CommandConfig) isZero() bool {
	return len(c.Check) == 0 && len(c.Reload) == 0 && c.Timeout == 0
}
