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
	setInt(&nc.QuerySizeLimit, c.QuerySizeLimit)
	setInt(&nc.QueryResponseSizeLimit, c.QueryResponseSizeLimit)
	setInt(&nc.UserEventSizeLimit, c.UserEventSizeLimit)
	// Set as they are: 0 is meaningful (no coalescing).
	nc.QuiescentPeriod, nc.CoalescePeriod = c.UserQuiescentPeriod, c.UserCoalescePeriod
	g := c.Gossip
	setDur(&nc.ReconnectInterval, g.ReconnectInterval)
	setDur(&nc.ReconnectTimeout, g.ReconnectTimeout)
	setDur(&nc.TombstoneTimeout, g.TombstoneTimeout)
	setDur(&nc.ReapInterval, g.ReapInterval)
	setDur(&nc.LeaveTimeout, g.LeaveTimeout)
	nc.Tuning = node.Tuning{
		ProbeInterval: g.ProbeInterval, ProbeTimeout: g.ProbeTimeout,
		GossipInterval: g.GossipInterval, PushPullInterval: g.PushPullInterval,
		SuspicionMult: g.SuspicionMult,
	}
	return nc, nil
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

func setDur[T ~int64](dst *T, v T) {
	if v != 0 {
		*dst = v
	}
}

// queryResponseLimit is the node's query response limit for cfg, which
// also bounds a query handler's output.
func queryResponseLimit(cfg config.Config) int {
	limit := node.DefaultConfig().QueryResponseSizeLimit
	setInt(&limit, cfg.QueryResponseSizeLimit)
	return limit
}
