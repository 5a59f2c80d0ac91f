package agent

import (
	"context"
	"os/exec"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// component is a part of the agent that runs until its context ends and
// can take a new configuration on SIGHUP: the DNS server and the template
// runner.
type component interface {
	Run(ctx context.Context) error
	Reload(cfg config.Config) error
}

// newRenderer is the wiring point for template rendering (packages render,
// backends, templates). When it lands: build one runner for cfg.Templates
// with a.node as the view, run it, and have Reload replace the template
// set. Until then templates are parsed and validated but not rendered.
func (a *Agent) newRenderer(cfg config.Config) (component, error) {
	if len(cfg.Templates) == 0 {
		return nil, nil
	}
	for _, t := range cfg.Templates {
		if (t.Backend == "haproxy" || t.Backend == "nginx") && !onPath(t.Backend) {
			a.log.Warn("load balancer not installed: rendered files will not be validated", "backend", t.Backend, "destination", t.Destination)
		}
	}
	a.log.Warn("templates are configured but this build does not render them yet", "templates", len(cfg.Templates))
	return nil, nil
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
