package node

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Tuning overrides only the timings it sets, over the chosen profile, and
// metric labels reach memberlist sorted by name.
func TestConfig_TuningOverProfile(t *testing.T) {
	c := DefaultConfig()
	c.Profile = "wan"
	c.Tuning = Tuning{ProbeInterval: 123 * time.Millisecond, SuspicionMult: 7}
	c.MetricLabels = map[string]string{"b": "2", "a": "1"}
	mc := c.memberlistConfig()
	wan := memberlist.DefaultWANConfig()
	if mc.ProbeInterval != 123*time.Millisecond || mc.SuspicionMult != 7 {
		t.Errorf("probe interval %s, suspicion mult %d: want 123ms and 7", mc.ProbeInterval, mc.SuspicionMult)
	}
	if mc.ProbeTimeout != wan.ProbeTimeout || mc.GossipInterval != wan.GossipInterval || mc.PushPullInterval != wan.PushPullInterval {
		t.Errorf("unset timings changed: got %s/%s/%s, want the wan profile's %s/%s/%s",
			mc.ProbeTimeout, mc.GossipInterval, mc.PushPullInterval, wan.ProbeTimeout, wan.GossipInterval, wan.PushPullInterval)
	}
	if got := mc.MetricLabels; len(got) != 2 || got[0].Name != "a" || got[1].Value != "2" {
		t.Errorf("metric labels %v, want [a=1 b=2]", got)
	}
	if !mc.EnableCompression {
		t.Error("compression is off by default; memberlist's default is on")
	}
	c.Tuning.DisableCompression = true
	if c.memberlistConfig().EnableCompression {
		t.Error("DisableCompression left memberlist's compression on")
	}
}

func TestConfig_TuningNegativeRejected(t *testing.T) {
	c := DefaultConfig()
	c.Tuning = Tuning{GossipInterval: -time.Second, SuspicionMult: -1}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "gossip interval") || !strings.Contains(err.Error(), "suspicion multiplier") {
		t.Fatalf("Validate: %v, want both negative tunings named", err)
	}
}
