package node

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestReachability_AcksAndMissing(t *testing.T) {
	nodes := startCluster(t, "reach", 3, func(c *Config) {
		// No failure detection during the test: a member that stops
		// answering stays alive in the view, as a broken path would look.
		mc := *c.Memberlist
		mc.ProbeInterval = time.Hour
		c.Memberlist = &mc
	})
	events := nodes[1].events
	r, err := nodes[0].Reachability(context.Background(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Members != 3 || len(r.Live) != 3 || len(r.Acked) != 3 || len(r.Missing) != 0 {
		t.Fatalf("got %+v, want 3 members, 3 live, 3 acks, none missing", r)
	}
	// The ping is answered inside the node: no handler sees it.
	nodes[1].UserEvent("sentinel", nil, false)
	for ev := range events {
		if q, ok := ev.(*Query); ok {
			t.Fatalf("ping query %q reached subscribers", q.Name)
		}
		if ue, ok := ev.(*UserEvent); ok && ue.Name == "sentinel" {
			break
		}
	}

	nodes[2].Shutdown()
	r, err = nodes[0].Reachability(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Missing, []string{"reach2"}) || len(r.Acked) != 2 {
		t.Fatalf("got acks %v missing %v, want acks from reach0 and reach1, reach2 missing", r.Acked, r.Missing)
	}
}
