package node

import (
	"fmt"
	"testing"
	"time"
)

// userStream subscribes to n and returns a function that yields the next
// user event, failing after timeout.
func userStream(t *testing.T, n *testNode) func() *UserEvent {
	t.Helper()
	ch, cancel := n.Subscribe(256)
	t.Cleanup(cancel)
	return func() *UserEvent {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-ch:
				if ue, ok := ev.(*UserEvent); ok {
					return ue
				}
			case <-deadline:
				t.Fatalf("%s: no user event within 30s", n.Name())
				return nil
			}
		}
	}
}

func TestNode_OwnUserEventDeliveredBeforeUserEventReturns(t *testing.T) {
	n := startNode(t, testConfig("own"))
	ch, cancel := n.Subscribe(64)
	defer cancel()
	for i := range 5 {
		if err := n.UserEvent("deploy", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
		// No waiting: the event must already be in the subscriber's channel.
		var got *UserEvent
		for got == nil {
			select {
			case ev := <-ch:
				got, _ = ev.(*UserEvent)
			default:
				t.Fatalf("event %d: not in the local subscriber's channel when UserEvent returned", i)
			}
		}
		if string(got.Payload) != fmt.Sprint(i) {
			t.Fatalf("got payload %q, want %d", got.Payload, i)
		}
	}
}

func TestNode_UserEventWaitsOnlyForItsSendersPredecessor(t *testing.T) {
	cfg := testConfig("order")
	cfg.EventOrderWindow = time.Minute // nothing here may be released by the window
	cfg.EventBuffer = 32
	n := startNode(t, cfg)
	next := userStream(t, n)
	offer := func(ltime, prev LamportTime, name string) {
		t.Helper()
		if !n.handleUserEvent(&userEventMsg{LTime: ltime, Prev: prev, Name: name}) {
			t.Fatalf("event %s at %d refused", name, ltime)
		}
	}
	expect := func(names ...string) {
		t.Helper()
		for _, want := range names {
			if got := next(); got.Name != want {
				t.Fatalf("delivered %q (ltime %d), want %q", got.Name, got.LTime, want)
			}
		}
	}

	offer(12, 10, "b")    // overtook its predecessor at 10: held
	offer(14, 12, "c")    // its predecessor is held: queues behind it
	offer(13, 0, "other") // another sender's first event: at once
	expect("other")       // b and c did not go before it
	offer(10, 0, "a")     // the predecessor arrives
	expect("a", "b", "c") // and the chain follows, in the sender's order
	offer(11, 0, "late")  // lower than events already delivered: at once, not dropped
	expect("late")
	offer(20, 20, "self-prev") // a predecessor not before the event: ignored
	expect("self-prev")

	// A predecessor that can no longer arrive is not waited for.
	n.Node.events.raiseMinTime(40)
	offer(45, 35, "after-join") // 35 is before this node's minimum time
	expect("after-join")
	offer(90, 50, "ancient") // 50 is older than the 32-slot de-duplication ring
	expect("ancient")

	n.delivery.mu.Lock()
	held := n.delivery.held
	n.delivery.mu.Unlock()
	if held != 0 {
		t.Errorf("%d events still held, want 0", held)
	}
}

func TestNode_UserEventHeldAtMostTheOrderWindow(t *testing.T) {
	cfg := testConfig("window")
	cfg.EventOrderWindow = 100 * time.Millisecond
	n := startNode(t, cfg)
	next := userStream(t, n)
	// The predecessor at 3 never comes: the event goes when the window
	// ends, and the one queued behind it follows.
	n.handleUserEvent(&userEventMsg{LTime: 5, Prev: 3, Name: "orphan"})
	n.handleUserEvent(&userEventMsg{LTime: 7, Prev: 5, Name: "follower"})
	for _, want := range []string{"orphan", "follower"} {
		if got := next(); got.Name != want {
			t.Fatalf("delivered %q, want %q", got.Name, want)
		}
	}
	// Its late predecessor is still delivered once.
	n.handleUserEvent(&userEventMsg{LTime: 3, Name: "predecessor"})
	if got := next(); got.Name != "predecessor" {
		t.Fatalf("delivered %q, want predecessor", got.Name)
	}
}
