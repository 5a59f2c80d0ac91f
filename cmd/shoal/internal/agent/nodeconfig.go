package agent

import (
	"fmt"

	"github.com/hashicorp/memberlist"

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
	g := c.Gossip
	setDur(&nc.ReconnectInterval, g.ReconnectInterval)
	setDur(&nc.ReconnectTimeout, g.ReconnectTimeout)
	setDur(&nc.TombstoneTimeout, g.TombstoneTimeout)
	setDur(&nc.ReapInterval, g.ReapInterval)
	setDur(&nc.LeaveTimeout, g.LeaveTimeout)
	if g.ProbeInterval|g.ProbeTimeout|g.GossipInterval|g.PushPullInterval != 0 || g.SuspicionMult != 0 {
		// Tuning beyond the profile: start from the profile's memberlist
		// config and shrink what was asked.
		var mc *memberlist.Config
		switch c.Profile {
		case "wan":
			mc = memberlist.DefaultWANConfig()
		case "local":
			mc = memberlist.DefaultLocalConfig()
		default:
			mc = memberlist.DefaultLANConfig()
		}
		setDur(&mc.ProbeInterval, g.ProbeInterval)
		setDur(&mc.ProbeTimeout, g.ProbeTimeout)
		setDur(&mc.GossipInterval, g.GossipInterval)
		setDur(&mc.PushPullInterval, g.PushPullInterval)
		if g.SuspicionMult != 0 {
			mc.SuspicionMult = g.SuspicionMult
		}
		nc.Memberlist = mc
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
