package agent

import "github.com/shoal-dev/shoal/cmd/shoal/internal/config"

// keepBoundAddrs carries the addresses gossip was bound to and advertises
// over a reload: they change only with a restart, and the reloaded config
// still has the host names and -iface that New resolved.
func keepBoundAddrs(prev config.Config, next *config.Config) {
	next.BindAddr, next.AdvertiseAddr = prev.BindAddr, prev.AdvertiseAddr
}
