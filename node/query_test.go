package node

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

func TestNode_QueryRelayCountsEachMemberOnce(t *testing.T) {
	nodes := startCluster(t, "relay", 4, nil)
	for _, n := range nodes {
		go respondWithName(n)
	}
	querier := nodes[3]
	resp, err := querier.Query("who", nil, &QueryParams{RequestAck: true, RelayFactor: 2, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	acks, answers := map[string]int{}, map[string]int{}
	for len(acks) < 4 || len(answers) < 4 {
		select {
		case a := <-resp.AckCh():
			acks[a]++
		case r := <-resp.ResponseCh():
			answers[r.From]++
		case <-time.After(30 * time.Second):
			t.Fatalf("after 30s: acks %v, responses %v; want all 4 of each", acks, answers)
		}
	}
	// Each of the 3 other members sends its ack and response through the
	// 2 members that are neither it nor the querier: wait until repeats
	// have reached the querier, then check none got through.
	testutil.WaitFor(t, 30*time.Second, func() error {
		var relayed uint64
		for _, n := range nodes {
			relayed += n.stats.relayedResponses.Load()
		}
		if dup := querier.stats.duplicateResponses.Load(); relayed == 0 || dup == 0 {
			return fmt.Errorf("%d responses relayed, %d repeats at the querier; want some of both", relayed, dup)
		}
		return nil
	})
	resp.Close()
	for a := range resp.AckCh() {
		acks[a]++
	}
	for r := range resp.ResponseCh() {
		answers[r.From]++
	}
	for _, n := range nodes {
		if acks[n.Name()] != 1 || answers[n.Name()] != 1 {
			t.Errorf("%s: %d acks and %d responses, want 1 of each", n.Name(), acks[n.Name()], answers[n.Name()])
		}
	}
}

func TestNode_RelayForwardsOnlyResponsesToMembers(t *testing.T) {
	nodes := startCluster(t, "fwd", 2, nil)
	relayer, dest := nodes[0], nodes[1]
	destIP, destPort := dest.LocalAddr()
	response := encodeMessage(msgQueryResponse, &queryResponseMsg{LTime: 1, ID: 1, From: "x"})
	tests := []struct {
		name string
		msg  relayMsg
	}{
		{"not a member", relayMsg{DestAddr: net.ParseIP("127.0.0.1").To4(), DestPort: 9, DestName: "stranger", Msg: response}},
		{"member, other address", relayMsg{DestAddr: net.ParseIP("127.0.0.1").To4(), DestPort: 9, DestName: dest.Name(), Msg: response}},
		{"not a response", relayMsg{DestAddr: destIP, DestPort: destPort, DestName: dest.Name(),
			Msg: encodeMessage(msgUserEvent, &userEventMsg{LTime: 1, Name: "e"})}},
		{"bad response", relayMsg{DestAddr: destIP, DestPort: destPort, DestName: dest.Name(), Msg: response[:3]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := relayer.Stats().DroppedMessages
			(&delegate{relayer.Node}).NotifyMsg(encodeMessage(msgRelay, &tc.msg))
			if got := relayer.Stats().DroppedMessages; got != before+1 {
				t.Errorf("dropped messages %d, want %d: the relay was not refused", got, before+1)
			}
			if got := relayer.stats.relayedResponses.Load(); got != 0 {
				t.Errorf("%d responses forwarded, want 0", got)
			}
		})
	}
}

func TestNode_QueryStateFreedOnCloseAndTimeoutCapped(t *testing.T) {
	cfg := testConfig("qfree")
	cfg.MaxQueryTimeout = time.Hour
	n := startNode(t, cfg)
	if _, err := n.Query("long", nil, &QueryParams{Timeout: 2 * time.Hour}); err == nil ||
		!strings.Contains(err.Error(), "over the maximum of 1h0m0s") {
		t.Fatalf("got %v, want an error naming the 1h maximum", err)
	}
	var open []*QueryResponse
	for i := range 100 {
		resp, err := n.Query("long", []byte(fmt.Sprint(i)), &QueryParams{Timeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
	}
	if got := n.Stats().PendingQueries; got != 100 {
		t.Fatalf("%d pending queries, want 100", got)
	}
	for _, resp := range open {
		resp.Close()
		resp.Close() // idempotent
	}
	if got := n.Stats().PendingQueries; got != 0 {
		t.Errorf("%d pending queries after Close, want 0", got)
	}
	n.queries.respMu.Lock()
	left := len(n.queries.responses)
	n.queries.respMu.Unlock()
	if left != 0 {
		t.Errorf("responses map holds %d queries after Close, want 0", left)
	}
	// A query that runs out its timeout frees its state too.
	resp, err := n.Query("short", nil, &QueryParams{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range resp.ResponseCh() {
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := n.Stats().PendingQueries; got != 0 {
			return fmt.Errorf("%d pending queries after the deadline, want 0", got)
		}
		return nil
	})
}
