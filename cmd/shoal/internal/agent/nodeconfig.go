package agent

import (
	"fmt"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/node"
)

// nodeConfig translates the agent's configuration for node.New.
func nodeConfig(c config.Config, tags map[string]string) (node.Config, error) {
	nc := node.DefaultConfig()
	nc.Name = c.NodeName
	nc.BindAddr, nc.BindPort = c.BindAddr, c.BindPort
	nc.AdvertiseAddr, nc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	nc.Tags = tags
	nc.Services = c.Services
	nc.Profile = c.Profile
	nc.SnapshotPath = c.SnapshotPath
	nc.RejoinAfterLeave = c.RejoinAfterLeave
	nc.DisableCoordinates = c.DisableCoordinates
	nc.KeyringFile = c.KeyringFile
	nc.Label = c.Label
	if c.EncryptKey != "" {
		k, err := config.DecodeKey(c.EncryptKey)
		if err != nil {
			return nc, fmt.Errorf("encrypt: %w", err)
		}
		nc.Keys = [][]byte{k}
	}
	setNonZero(&nc.QuerySizeLimit, c.QuerySizeLimit)
	setNonZero(&nc.QueryResponseSizeLimit, c.QueryResponseSizeLimit)
	setNonZero(&nc.UserEventSizeLimit, c.UserEventSizeLimit)
	// Set as they are: 0 is meaningful (no coalescing).
	nc.QuiescentPeriod, nc.CoalescePeriod = c.UserQuiescentPeriod, c.UserCoalescePeriod
	g := c.Gossip
	setNonZero(&nc.ReconnectInterval, g.ReconnectInterval)
	setNonZero(&nc.ReconnectTimeout, g.ReconnectTimeout)
	setNonZero(&nc.TombstoneTimeout, g.TombstoneTimeout)
	setNonZero(&nc.ReapInterval, g.ReapInterval)
	setNonZero(&nc.LeaveTimeout, g.LeaveTimeout)
	nc.EventPushRate = g.EventPushRate // as it is: 0 turns eager push off
	nc.Tuning = node.Tuning{
		ProbeInterval: g.ProbeInterval, ProbeTimeout: g.ProbeTimeout,
		GossipInterval: g.GossipInterval, PushPullInterval: g.PushPullInterval,
		SuspicionMult: g.SuspicionMult, DisableCompression: g.DisableCompression,
	}
	return nc, nil
}

// setNonZero sets *dst to v unless v is zero (unset), which keeps the
// default *dst holds.
func setNonZero[T ~int | ~int64](dst *T, v T) {
	if v != 0 {
		*dst = v
	}
}

// queryResponseLimit is the node's query response limit for cfg, which
// also bounds a query handler's output.
func queryResponseLimit(cfg config.Config) int {
	limit := node.DefaultConfig().QueryResponseSizeLimit
	setNonZero(&limit, cfg.QueryResponseSizeLimit)
	return limit
}
