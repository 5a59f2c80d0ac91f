package node

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNode_UserEventOnceInSendersOrderAndNotReplayedToLateJoiner(t *testing.T) {
	nodes := startCluster(t, "ev", 3, func(c *Config) { c.CoalescePeriod = 0 })
	// One sender: every node delivers its events in the order they were
	// sent, though gossip packs them newest first and memberlist hands a
	// packet's messages over last first.
	const count = 10
	for i := range count {
		if err := nodes[0].UserEvent("deploy", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	// Concurrent senders: each event still arrives exactly once (their
	// events are not ordered against each other).
	for i := range count {
		if err := nodes[i%3].UserEvent("spread", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	for _, n := range nodes {
		var deploys []*UserEvent
		spread := map[string]bool{}
		for len(deploys) < count || len(spread) < count {
			ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser }).(*UserEvent)
			switch ev.Name {
			case "deploy":
				deploys = append(deploys, ev)
			case "spread":
				if spread[string(ev.Payload)] {
					t.Fatalf("%s: spread event %s delivered twice", n.Name(), ev.Payload)
				}
				spread[string(ev.Payload)] = true
			}
		}
		for i, ev := range deploys {
			if string(ev.Payload) != fmt.Sprint(i) {
				t.Fatalf("%s: deploy event %d is %s: out of the sender's order", n.Name(), i, ev.Payload)
			}
		}
	}
	// No duplicates trail in: the next event anyone sees is the sentinel.
	if err := nodes[0].UserEvent("sentinel", nil, false); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got := userEventsUntil(t, n, "sentinel"); len(got) != 0 {
			t.Fatalf("%s: %d events delivered again (first %s %s)", n.Name(), len(got), got[0].Name, got[0].Payload)
		}
	}

	late := startNode(t, testConfig("ev-late"))
	if _, err := late.Join([]string{nodes[1].addr()}, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, append(nodes, late), StatusAlive, late.Name())
	if err := nodes[2].UserEvent("after-join", nil, false); err != nil {
		t.Fatal(err)
	}
	waitFor := userEventsUntil(t, late, "after-join")
	if len(waitFor) != 0 {
		var names []string
		for _, e := range waitFor {
			names = append(names, e.Name)
		}
		t.Fatalf("late joiner got old events %v before after-join", names)
	}
}

func TestNode_LateJoinerReplaysWhenAsked(t *testing.T) {
	nodes := startCluster(t, "replay", 2, nil)
	if err := nodes[0].UserEvent("old", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	userEventsUntil(t, nodes[1], "old")
	late := startNode(t, testConfig("replay-late"))
	if _, err := late.Join([]string{nodes[0].addr()}, true); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, late, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser })
	if ev.(*UserEvent).Name != "old" {
		t.Errorf("replayed %q, want old", ev.(*UserEvent).Name)
	}
}

func TestNode_UserEventCoalescing(t *testing.T) {
	nodes := startCluster(t, "coal", 2, func(c *Config) {
		c.CoalescePeriod = 2 * time.Second
		c.QuiescentPeriod = 300 * time.Millisecond
	})
	for i := range 5 {
		if err := nodes[0].UserEvent("deploy", []byte(fmt.Sprint(i)), true); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		ev := nextEvent(t, n, 30*time.Second, func(e Event) bool { return e.EventType() == EventUser })
		if got := string(ev.(*UserEvent).Payload); got != "4" {
			t.Errorf("%s: coalesced event payload %q, want the newest (4)", n.Name(), got)
		}
	}
	// Nothing else of the burst follows: the next event is the sentinel.
	if err := nodes[0].UserEvent("sentinel", nil, false); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got := userEventsUntil(t, n, "sentinel"); len(got) != 0 {
			t.Errorf("%s: %d more events of the coalesced burst delivered", n.Name(), len(got))
		}
	}
}

// TestNode_UserEventCoalescingOff: a zero quiescent period turns
// coalescing off, as in Serf (which needs both periods): every event of a
// coalescing burst is delivered, in order, none held.
func TestNode_UserEventCoalescingOff(t *testing.T) {
	cfg := testConfig("coaloff")
	cfg.QuiescentPeriod = 0
	n := startNode(t, cfg)
	for i := range 3 {
		if err := n.UserEvent("deploy", []byte(fmt.Sprint(i)), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.UserEvent("sentinel", nil, false); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ue := range userEventsUntil(t, n, "sentinel") {
		got = append(got, string(ue.Payload))
	}
	if strings.Join(got, ",") != "0,1,2" {
		t.Errorf("got payloads %v before the sentinel, want 0,1,2 (no coalescing)", got)
	}
}

func TestNode_OversizeEventRefused(t *testing.T) {
	n := startNode(t, testConfig("evbig"))
	err := n.UserEvent("deploy", make([]byte, 600), false)
	if err == nil || !strings.Contains(err.Error(), "over the 512-byte limit") {
		t.Fatalf("got %v, want an error naming the 512-byte limit", err)
	}
	if err := n.UserEvent("_shoal-x", nil, false); err == nil {
		t.Error("reserved event name accepted")
	}
}

func TestNode_QueryFiltersAcksAndResponses(t *testing.T) {
	roles := []string{"web", "web", "db", "web"}
	i := 0
	nodes := startCluster(t, "q", 4, func(c *Config) {
		c.Tags = map[string]string{"role": roles[i]}
		i++
	})
	for _, n := range nodes {
		go respondWithName(n)
	}
	tests := []struct {
		name   string
		params QueryParams
		want   []string
	}{
		{"all", QueryParams{}, []string{"q0", "q1", "q2", "q3"}},
		{"tag", QueryParams{FilterTags: map[string]string{"role": "^web$"}}, []string{"q0", "q1", "q3"}},
		{"nodes", QueryParams{FilterNodes: []string{"q1", "q2"}}, []string{"q1", "q2"}},
		{"both", QueryParams{FilterNodes: []string{"q1", "q2"}, FilterTags: map[string]string{"role": "web"}}, []string{"q1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params
			p.RequestAck = true
			p.Timeout = 5 * time.Second
			resp, err := nodes[3].Query("who", []byte("ping"), &p)
			if err != nil {
				t.Fatal(err)
			}
			var acks, answers []string
			ackCh, respCh := resp.AckCh(), resp.ResponseCh()
			for ackCh != nil || respCh != nil {
				select {
				case a, ok := <-ackCh:
					if !ok {
						ackCh = nil
						continue
					}
					acks = append(acks, a)
				case r, ok := <-respCh:
					if !ok {
						respCh = nil
						continue
					}
					if string(r.Payload) != "pong from "+r.From {
						t.Errorf("response from %s: %q", r.From, r.Payload)
					}
					answers = append(answers, r.From)
				}
				if len(acks) == len(tc.want) && len(answers) == len(tc.want) {
					resp.Close() // everything expected is in; no need to wait out the deadline
				}
			}
			sort.Strings(acks)
			sort.Strings(answers)
			if fmt.Sprint(acks) != fmt.Sprint(tc.want) {
				t.Errorf("acks from %v, want %v", acks, tc.want)
			}
			if fmt.Sprint(answers) != fmt.Sprint(tc.want) {
				t.Errorf("responses from %v, want %v", answers, tc.want)
			}
		})
	}
	if _, err := nodes[0].Query("bad", nil, &QueryParams{FilterTags: map[string]string{"role": "("}}); err == nil {
		t.Error("query with a bad tag regexp accepted")
	}
	if _, err := nodes[0].Query("big", make([]byte, 2000), nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversize query: got %v, want a size limit error", err)
	}
}

func respondWithName(n *testNode) {
	for ev := range n.events {
		if q, ok := ev.(*Query); ok && q.Name == "who" {
			q.Respond([]byte("pong from " + n.Name()))
		}
	}
}

func TestNode_QueryResponseLimit(t *testing.T) {
	n := startNode(t, testConfig("qlimit"))
	resp, err := n.Query("x", nil, &QueryParams{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	q := nextEvent(t, n, 10*time.Second, func(e Event) bool { return e.EventType() == EventQuery }).(*Query)
	if err := q.Respond(make([]byte, 2000)); err == nil || !strings.Contains(err.Error(), "1024-byte limit") {
		t.Errorf("oversize response: got %v, want the 1024-byte limit error", err)
	}
	if err := q.Respond([]byte("ok")); err != nil {
		t.Fatalf("respond: %v", err)
	}
	if err := q.Respond([]byte("again")); err == nil {
		t.Error("second response accepted")
	}
	if r := <-resp.ResponseCh(); string(r.Payload) != "ok" {
		t.Errorf("got response %q, want ok", r.Payload)
	}
}
