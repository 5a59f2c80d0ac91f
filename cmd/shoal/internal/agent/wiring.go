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

// newDNS is the wiring point for the DNS server (package dns). When it
// lands: build it from cfg.DNSAddr and cfg.Domain with a read-only view
// (a.node.Snapshot / a.node.Watch), return it here, and expose its bound
// address to Info (dnsAddr). Until then DNS is configured but not served.
func (a *Agent) newDNS(cfg config.Config) (component, error) {
	if cfg.DNSAddr != "" {
		a.log.Warn("DNS is configured but this build does not serve it yet", "dns_addr", cfg.DNSAddr, "domain", cfg.Domain)
	}
	return nil, nil
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
