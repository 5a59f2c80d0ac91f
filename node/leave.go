package node

import "fmt"

// leaveGossip runs memberlist's leave, which waits for this node's dead
// message to go out for as long as any peer looks alive. When the last
// peers leave at once, each sees the other go first and nobody is left to
// tell: as in Serf, that leave is clean, and it returns as soon as no live
// peer remains rather than at the leave timeout. memberlist's own wait
// then ends by its timeout, in the background.
func (n *Node) leaveGossip() error {
	changes, stop := n.Watch()
	defer stop()
	done := make(chan error, 1)
	go func() { done <- n.list().Leave(n.cfg.LeaveTimeout) }()
	for {
		select {
		case err := <-done:
			if err != nil && n.livePeers() > 0 {
				return fmt.Errorf("leave: %w", err)
			}
			return nil
		case <-changes:
			if n.livePeers() == 0 {
				n.logger.Info("no live peer left to tell of the leave")
				return nil
			}
		}
	}
}

// livePeers counts the other members memberlist holds alive or suspect.
func (n *Node) livePeers() int {
	live := 0
	for _, m := range n.list().Members() {
		if m.Name != n.cfg.Name {
			live++
		}
	}
	return live
}
