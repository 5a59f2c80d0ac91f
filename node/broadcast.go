package node

import "github.com/hashicorp/memberlist"

// broadcast is one message queued for gossip. notify, when set, is closed
// once memberlist stops retransmitting it, which Leave waits for.
type broadcast struct {
	msg    []byte
	notify chan struct{}
}

var _ memberlist.Broadcast = (*broadcast)(nil)

// Invalidates is false: intents and events are idempotent and de-duplicated
// by Lamport time on receipt, so nothing needs to be replaced in the queue.
func (b *broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *broadcast) Message() []byte                       { return b.msg }
func (b *broadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}
