package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/internal/metrics"
)

// Gossip is the write path into load-balancer configs and DNS: whoever can
// send memberlist packets to an unkeyed agent can add, change or remove
// members. The rules of this file:
//
//   - an agent with templates runs only with a gossip key, unless the
//     operator opts out with insecure_gossip (logged as a WARN);
//   - an agent without templates may run unkeyed (a default local agent
//     must work out of the box), with a WARN; its DNS keeps answering,
//     as trustworthy as the network it listens on;
//   - -dev makes a key once and reuses it.

// GossipTrustError refuses a configuration that renders templates on
// unauthenticated gossip. encrypted is what the node's keyring holds
// (shoal validate, which starts no node, passes whether a key or keyring
// file is configured).
func GossipTrustError(cfg config.Config, encrypted bool) error {
	if encrypted || cfg.InsecureGossip || len(cfg.Templates) == 0 {
		return nil
	}
	return errors.New("this agent renders templates, which write a load balancer's config from gossip, " +
		"but gossip has no key: anyone who reaches the gossip port could add or remove backends. " +
		"Run `shoal keygen` and set encrypt (-encrypt) or keyring_file (-keyring-file) on every agent, " +
		"or set insecure_gossip = true (-insecure-gossip) to run without a key at your own risk")
}

// warnGossipTrust logs, at start, what running unkeyed exposes.
func warnGossipTrust(cfg config.Config, encrypted bool, log *slog.Logger) {
	switch {
	case encrypted && cfg.InsecureGossip:
		log.Info("insecure_gossip is set but gossip is encrypted; it has no effect")
	case encrypted:
	case len(cfg.Templates) > 0:
		log.Warn("insecure_gossip: gossip has no key, yet this agent renders templates: anyone who reaches the gossip port "+
			"can join, inject members and change the rendered load-balancer configs and DNS answers",
			"bind", cfg.BindString(), "templates", len(cfg.Templates))
	default:
		log.Warn("gossip has no key: anyone who reaches the gossip port can join and inject members, "+
			"so DNS answers are only as trustworthy as the network; run `shoal keygen` and set encrypt or keyring_file",
			"bind", cfg.BindString())
	}
}

// GossipSecurity says what protects gossip right now: the node's keyring,
// not the configuration. Insecure is true only while the agent runs
// without a key because insecure_gossip is set.
func (a *Agent) GossipSecurity() api.GossipSecurity {
	enc := a.node.Encrypted()
	return api.GossipSecurity{Encrypted: enc, Insecure: !enc && a.config().InsecureGossip}
}

// newTrustGauges exports GossipSecurity as metrics, so an unkeyed agent
// can be alerted on.
func newTrustGauges(sec func() api.GossipSecurity) []metrics.Collector {
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	return []metrics.Collector{
		metrics.NewGaugeFunc("shoal_gossip_encrypted",
			"1 if gossip is encrypted and authenticated: the node's keyring holds a key.",
			func() float64 { return one(sec().Encrypted) }),
		metrics.NewGaugeFunc("shoal_insecure_gossip",
			"1 if the agent runs without a gossip key because insecure_gossip is set.",
			func() float64 { return one(sec().Insecure) }),
	}
}

// prepareDevKeyring makes -dev's keyring file with a new key on the first
// -dev start; later starts reuse it, so a restarted dev agent keeps its
// key. The file is created complete or not at all: written aside, then
// linked into place, which fails if another start made it first.
func prepareDevKeyring(cfg config.Config, log *slog.Logger) error {
	path := cfg.KeyringFile
	if !cfg.Dev || path != config.DevKeyringFile {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		log.Info("dev mode: gossip key reused", "keyring_file", path)
		return nil
	}
	key, err := config.GenerateKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("dev keyring: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("dev keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "[%q]\n", key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		log.Info("dev mode: gossip key reused", "keyring_file", path)
	case err != nil:
		return fmt.Errorf("dev keyring %s: %w", path, err)
	default:
		log.Info("dev mode: made a gossip key; later -dev starts reuse it", "keyring_file", path)
	}
	return nil
}
