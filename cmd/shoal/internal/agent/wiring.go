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

// newRenderer builds the template renderer (packages render, backends,
// templates) from cfg.Templates, with the gossip node as its view. It is
// built even with no templates, so that SIGHUP can add some and the
// config-hash query is answered the same way everywhere.
func (a *Agent) newRenderer(cfg config.Config) (component, error) {
	r, err := a.newRendererFor(cfg)
	if err != nil {
		return nil, err
	}
	a.render.Store(r)
	return r, nil
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
