package agent

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
)

// Reload applies cfg, a fresh load of the agent's config (the CLI's
// SIGHUP), as far as it can without a restart: log level, tags, services,
// handlers, templates and every DNS setting but its address. A config the
// agent cannot take is refused whole, with an error, and the running one
// kept. Tags set through the API stay on top of cfg's.
func (a *Agent) Reload(next config.Config) error {
	// SIGHUP must not add templates to an agent that gossips without a key.
	if err := GossipTrustError(next, a.node.Encrypted()); err != nil {
		return err
	}
	scripts, err := parseScripts(next.EventHandlers)
	if err != nil {
		return err
	}
	// The registry takes the services first (all or nothing), so a
	// config it refuses is refused whole.
	running := a.config()
	if err := a.svc.reload(next); err != nil {
		return err
	}
	prev, tags, comps, err := a.swapConfig(next, scripts)
	if err != nil {
		if rerr := a.svc.reload(running); rerr != nil {
			a.log.Error("reload refused, and the running services could not be put back", "err", rerr)
		}
		return err
	}
	if a.hub != nil {
		a.hub.SetLevel(next.LogLevel)
	}
	if r := a.handlerRunner(); r != nil {
		r.SetScripts(scripts)
	}
	if !maps.Equal(prev.Tags, next.Tags) {
		if err := a.node.SetTags(tags); err != nil {
			a.log.Error("reload: tags not applied", "err", err)
		}
	}
	for _, c := range comps {
		if err := c.Reload(next); err != nil {
			a.log.Error("reload: component kept its previous config", "err", err)
		}
	}
	for _, f := range restartOnly(prev, next) {
		a.log.Warn("config change needs a restart to take effect", "key", f)
	}
	a.log.Info("config reloaded", "handlers", len(scripts), "log_level", next.LogLevel.String())
	return nil
}

// swapConfig makes next the agent's config if the node's own rules (name
// and tag syntax, the 512-byte meta limit) accept it with the API's tags
// on top, and returns the previous config, those tags and the components
// to reload.
func (a *Agent) swapConfig(next config.Config, scripts []handlers.Script) (config.Config, map[string]string, []component, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.cfg
	keepBoundAddrs(prev, &next)
	a.cfg = next
	tags := a.effectiveTags()
	nc, err := nodeConfig(next, tags)
	if err == nil {
		err = nc.Validate()
	}
	if err != nil {
		a.cfg = prev
		return prev, nil, nil, err
	}
	a.scripts = scripts
	return prev, tags, slices.Clone(a.components), nil
}

func (a *Agent) handlerRunner() *handlers.Runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runner
}

// restartOnly names changed settings that a reload cannot apply.
func restartOnly(p, n config.Config) []string {
	var out []string
	check := func(key string, changed bool) {
		if changed {
			out = append(out, key)
		}
	}
	check("node_name", p.NodeName != n.NodeName)
	check("bind", p.BindString() != n.BindString())
	check("advertise", p.AdvertiseAddr != n.AdvertiseAddr || p.AdvertisePort != n.AdvertisePort)
	check("http_addr", p.HTTPAddr != n.HTTPAddr)
	check("http_token", p.HTTPToken != n.HTTPToken)
	check("http_allowed_hosts", !slices.Equal(p.HTTP.AllowedHosts, n.HTTP.AllowedHosts))
	check("http_max_conns", p.HTTP.MaxConns != n.HTTP.MaxConns || p.HTTP.MaxConnsPerClient != n.HTTP.MaxConnsPerClient)
	check("dns_addr", p.DNSAddr != n.DNSAddr)
	check("encrypt", p.EncryptKey != n.EncryptKey)
	check("keyring_file", p.KeyringFile != n.KeyringFile)
	check("profile", p.Profile != n.Profile)
	check("log_format", p.LogFormat != n.LogFormat)
	check("handler_timeout", p.HandlerTimeout != n.HandlerTimeout)
	check("member_quiescent_period", p.MemberQuiescentPeriod != n.MemberQuiescentPeriod)
	check("member_coalesce_period", p.MemberCoalescePeriod != n.MemberCoalescePeriod)
	check("user_quiescent_period", p.UserQuiescentPeriod != n.UserQuiescentPeriod)
	check("user_coalesce_period", p.UserCoalescePeriod != n.UserCoalescePeriod)
	check("gossip", p.Gossip != n.Gossip)
	return out
}
