package agent

import (
	"maps"
	"slices"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// Reload re-reads the configuration (SIGHUP) and applies what can change
// without a restart: log level, tags, services, handlers, templates and
// every DNS setting but its address. A
// broken configuration is logged and the running one kept.
func (a *Agent) Reload() {
	next, err := a.flags.Load()
	if err != nil {
		a.log.Error("config reload failed, keeping the running config", "err", err)
		return
	}
	// SIGHUP must not add templates to an agent that gossips without a key.
	if err := gossipTrustError(next, a.Node.Encrypted()); err != nil {
		a.log.Error("config reload failed, keeping the running config", "err", err)
		return
	}
	scripts, err := parseScripts(next.EventHandlers)
	if err != nil { // Load checked them; kept for safety
		a.log.Error("config reload failed, keeping the running config", "err", err)
		return
	}
	a.mu.Lock()
	prev := a.cfg
	keepBoundAddrs(prev, &next)
	a.cfg = next
	tags := a.effectiveTags()
	// The node's own rules (name and tag syntax, the 512-byte meta limit)
	// are checked before anything is applied.
	nc, err := nodeConfig(next, tags)
	if err == nil {
		err = nc.Validate()
	}
	if err != nil {
		a.cfg = prev
		a.mu.Unlock()
		a.log.Error("config reload failed, keeping the running config", "err", err)
		return
	}
	comps := slices.Clone(a.components)
	a.mu.Unlock()

	a.hub.SetLevel(next.LogLevel)
	a.runner.SetScripts(scripts)
	if !maps.Equal(prev.Tags, next.Tags) {
		if err := a.Node.SetTags(tags); err != nil {
			a.log.Error("reload: tags not applied", "err", err)
		}
	}
	a.svc.reload(next)
	for _, c := range comps {
		if err := c.Reload(next); err != nil {
			a.log.Error("reload: component kept its previous config", "err", err)
		}
	}
	for _, f := range restartOnly(prev, next) {
		a.log.Warn("config change needs a restart to take effect", "key", f)
	}
	a.log.Info("config reloaded", "handlers", len(scripts), "log_level", next.LogLevel.String())
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
	check("gossip", p.Gossip != n.Gossip)
	return out
}
