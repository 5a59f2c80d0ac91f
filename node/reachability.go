package node

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// queryPing is Serf's ping query under shoal's reserved prefix: every
// member acks it and nobody responds, so the acks show which members the
// query's gossip and the acks' direct sends reach.
const queryPing = reservedPrefix + "-ping"

// Reachability is the result of a ping query to every member.
type Reachability struct {
	// Members is how many members the node knew when it asked; Live
	// names the alive ones among them.
	Members int
	Live    []string
	// Acked names the members that acked, in the order the acks came.
	Acked []string
	// Missing names the live members that did not ack; Unexpected the
	// members that acked but were not alive here (sorted).
	Missing    []string
	Unexpected []string
	// Elapsed is how long the test ran; LastAck when the last ack came.
	Elapsed, LastAck time.Duration
}

// Reachability sends the ping query and collects acks until every live
// member acked, the timeout (zero: DefaultQueryTimeout) passed, or ctx
// ended. Unlike Serf's, it stops as soon as all live members answered.
func (n *Node) Reachability(ctx context.Context, timeout time.Duration) (*Reachability, error) {
	out := &Reachability{}
	live := map[string]bool{}
	for _, m := range n.Members() {
		out.Members++
		if m.Status == StatusAlive {
			live[m.Name] = true
			out.Live = append(out.Live, m.Name)
		}
	}
	start := time.Now()
	qr, err := n.query(queryPing, nil, &QueryParams{RequestAck: true, Timeout: timeout}, queryFlagInternal)
	if err != nil {
		return nil, fmt.Errorf("reachability: %w", err)
	}
	defer qr.Close()
	acked := map[string]bool{}
	for !containsAll(acked, live) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reachability: %w", ctx.Err())
		case name, ok := <-qr.AckCh():
			if !ok {
				return out.finish(live, acked, start), nil
			}
			acked[name] = true
			out.Acked = append(out.Acked, name)
			out.LastAck = time.Since(start)
		}
	}
	return out.finish(live, acked, start), nil
}

func containsAll(set, want map[string]bool) bool {
	for k := range want {
		if !set[k] {
			return false
		}
	}
	return true
}

func (r *Reachability) finish(live, acked map[string]bool, start time.Time) *Reachability {
	r.Elapsed = time.Since(start)
	for name := range live {
		if !acked[name] {
			r.Missing = append(r.Missing, name)
		}
	}
	for name := range acked {
		if !live[name] {
			r.Unexpected = append(r.Unexpected, name)
		}
	}
	sort.Strings(r.Missing)
	sort.Strings(r.Unexpected)
	return r
}
