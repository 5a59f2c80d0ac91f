package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// QueryParams filter and time a query.
type QueryParams struct {
	// FilterNodes, when set, limits the query to these members.
	FilterNodes []string
	// FilterTags maps a tag key to a regular expression its value must match.
	FilterTags map[string]string
	// RequestAck asks each target to acknowledge receipt.
	RequestAck bool
	// Timeout; zero means DefaultQueryTimeout. It may not exceed
	// Config.MaxQueryTimeout.
	Timeout time.Duration
	// RelayFactor asks each responder to send its ack and response
	// through this many other random members as well as directly, so
	// they survive the loss of a packet. The querier counts each member
	// once.
	RelayFactor uint8
}

// NodeResponse is one member's answer to a query.
type NodeResponse struct {
	From    string
	Payload []byte
}

// QueryResponse streams acks and responses for one query. Both channels are
// closed at the deadline or on Close. A caller that stops listening early
// must Close it, which frees the query's state at once.
type QueryResponse struct {
	ltime    LamportTime
	id       uint32
	deadline time.Time
	release  func(*QueryResponse) // forgets the query in its node

	mu       sync.Mutex
	closed   bool
	acks     map[string]bool
	answered map[string]bool
	ackCh    chan string
	respCh   chan NodeResponse
	timer    *time.Timer
}

// AckCh yields the name of each member that received the query
// (only with RequestAck).
func (r *QueryResponse) AckCh() <-chan string { return r.ackCh }

// ResponseCh yields each member's response as it arrives.
func (r *QueryResponse) ResponseCh() <-chan NodeResponse { return r.respCh }

// Deadline is when the query stops listening.
func (r *QueryResponse) Deadline() time.Time { return r.deadline }

// Finished reports whether the query is over.
func (r *QueryResponse) Finished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close stops listening and frees the query's state. It is idempotent.
func (r *QueryResponse) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.timer.Stop()
	close(r.ackCh)
	close(r.respCh)
	r.mu.Unlock()
	r.release(r)
}

// deliver passes m on unless its member already answered: with a relay
// factor the same ack or response arrives more than once. duplicates
// counts the repeats dropped.
func (r *QueryResponse) deliver(m *queryResponseMsg, duplicates *atomic.Uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	seen, ch := r.answered, any(r.respCh)
	if m.Ack {
		seen, ch = r.acks, r.ackCh
	}
	if seen[m.From] {
		duplicates.Add(1)
		return
	}
	seen[m.From] = true
	switch c := ch.(type) {
	case chan string:
		select {
		case c <- m.From:
		default:
		}
	case chan NodeResponse:
		select {
		case c <- NodeResponse{From: m.From, Payload: m.Payload}:
		default:
		}
	}
}

// queryState de-duplicates queries by (Lamport time, id) and tracks our
// own outstanding ones.
type queryState struct {
	seenRing[uint32]
	respMu    sync.Mutex // guards responses
	responses map[LamportTime]*QueryResponse
}

// forget drops a finished query from the outstanding ones.
func (s *queryState) forget(r *QueryResponse) {
	s.respMu.Lock()
	defer s.respMu.Unlock()
	if s.responses[r.ltime] == r {
		delete(s.responses, r.ltime)
	}
}

// pending counts the outstanding queries.
func (s *queryState) pending() int {
	s.respMu.Lock()
	defer s.respMu.Unlock()
	return len(s.responses)
}

// Query sends a request to every member that passes the filters and
// streams their acks and responses until the timeout.
func (n *Node) Query(name string, payload []byte, params *QueryParams) (*QueryResponse, error) {
	if strings.HasPrefix(name, reservedPrefix) {
		return nil, fmt.Errorf("query %q: names starting with %q are reserved", name, reservedPrefix)
	}
	return n.query(name, payload, params, 0)
}

func (n *Node) query(name string, payload []byte, params *QueryParams, flags uint8) (*QueryResponse, error) {
	if name == "" {
		return nil, errors.New("query: name is empty")
	}
	if n.list() == nil {
		return nil, fmt.Errorf("query %q: node not started", name)
	}
	if params == nil {
		params = &QueryParams{}
	}
	for key, expr := range params.FilterTags {
		if _, err := regexp.Compile(expr); err != nil {
			return nil, fmt.Errorf("query %q: tag filter %s=%q: %w", name, key, expr, err)
		}
	}
	timeout := params.Timeout
	if timeout <= 0 {
		timeout = n.DefaultQueryTimeout()
	}
	if limit := n.cfg.MaxQueryTimeout; timeout > limit {
		return nil, fmt.Errorf("query %q: timeout %s is over the maximum of %s", name, timeout, limit)
	}
	if params.RequestAck {
		flags |= queryFlagAck
	}
	addr, port := n.LocalAddr()
	msg := queryMsg{
		LTime: n.queryClock.Increment(), ID: rand.Uint32(), Addr: addr, Port: port,
		SourceNode: n.cfg.Name, FilterNodes: params.FilterNodes, FilterTags: params.FilterTags,
		Flags: flags, Timeout: timeout, Name: name, Payload: payload, RelayFactor: params.RelayFactor,
	}
	buf := encodeMessage(msgQuery, &msg)
	if limit := n.cfg.QuerySizeLimit; len(buf) > limit {
		return nil, fmt.Errorf("query %q: encoded query is %d bytes, %d over the %d-byte limit",
			name, len(buf), len(buf)-limit, limit)
	}
	capacity := 2*n.list().NumMembers() + 16
	resp := &QueryResponse{
		ltime: msg.LTime, id: msg.ID, deadline: time.Now().Add(timeout), release: n.queries.forget,
		acks: map[string]bool{}, answered: map[string]bool{},
		ackCh: make(chan string, capacity), respCh: make(chan NodeResponse, capacity),
	}
	n.queries.respMu.Lock()
	n.queries.responses[msg.LTime] = resp
	n.queries.respMu.Unlock()
	resp.mu.Lock() // Close reads the timer under mu, and may run as soon as it is set
	resp.timer = time.AfterFunc(timeout, resp.Close)
	resp.mu.Unlock()
	n.handleQuery(&msg)
	n.queryBroadcasts.QueueBroadcast(&broadcast{msg: buf})
	return resp, nil
}

// handleQuery answers a query seen for the first time (acking it and
// handing it to subscribers when this node matches the filters) and
// reports whether to gossip it on.
func (n *Node) handleQuery(msg *queryMsg) bool {
	n.queryClock.Witness(msg.LTime)
	switch n.queries.admit(msg.LTime, n.queryClock.Time(), msg.ID, func(id uint32) bool { return id == msg.ID }) {
	case duplicate, beforeMinTime:
		return false
	case tooOld:
		n.logger.Debug("query too old; dropped", "query", msg.Name, "ltime", msg.LTime)
		return false
	}

	if !n.matchesQueryFilters(msg) {
		return true
	}
	n.stats.queries.Add(1)
	if msg.Flags&queryFlagAck != 0 {
		ack := queryResponseMsg{LTime: msg.LTime, ID: msg.ID, From: n.cfg.Name, Ack: true}
		if err := n.sendQueryResponse(msg, &ack); err != nil {
			n.logger.Warn("query ack failed", "query", msg.Name, "to", msg.SourceNode, "err", err)
		}
	}
	// The querier's timeout is its own business, but nothing here need
	// last longer than ours.
	q := &Query{
		LTime: msg.LTime, Name: msg.Name, Payload: msg.Payload, SourceNode: msg.SourceNode,
		id: msg.ID, addr: msg.Addr, port: msg.Port,
		deadline: time.Now().Add(min(msg.Timeout, n.cfg.MaxQueryTimeout)), respond: n.respondOnce(msg),
	}
	if msg.Flags&queryFlagInternal != 0 {
		if msg.Name == queryPing {
			return true // the ack is the whole answer (reachability.go)
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.handleInternalQuery(q)
		}()
		return true
	}
	n.publish(q)
	return true
}

func (n *Node) matchesQueryFilters(msg *queryMsg) bool {
	if len(msg.FilterNodes) > 0 && !slices.Contains(msg.FilterNodes, n.cfg.Name) {
		return false
	}
	if len(msg.FilterTags) == 0 {
		return true
	}
	tags := n.Tags()
	for key, expr := range msg.FilterTags {
		re, err := regexp.Compile(expr)
		if err != nil {
			n.dropMessage("query tag filter", fmt.Errorf("%s=%q: %w", key, expr, err))
			return false
		}
		if !re.MatchString(tags[key]) {
			return false
		}
	}
	return true
}

// respondOnce builds the Respond function of a received query.
func (n *Node) respondOnce(msg *queryMsg) func(*Query, []byte) error {
	var once sync.Mutex
	responded := false
	return func(q *Query, payload []byte) error {
		once.Lock()
		defer once.Unlock()
		if responded {
			return fmt.Errorf("query %q: already responded", q.Name)
		}
		if time.Now().After(q.deadline) {
			return fmt.Errorf("query %q: deadline passed", q.Name)
		}
		if limit := n.cfg.QueryResponseSizeLimit; len(payload) > limit {
			return fmt.Errorf("query %q: response is %d bytes, %d over the %d-byte limit",
				q.Name, len(payload), len(payload)-limit, limit)
		}
		resp := queryResponseMsg{LTime: q.LTime, ID: q.id, From: n.cfg.Name, Payload: payload}
		if err := n.sendQueryResponse(msg, &resp); err != nil {
			return fmt.Errorf("query %q: respond to %s: %w", q.Name, q.SourceNode, err)
		}
		responded = true
		return nil
	}
}

// sendQueryResponse sends an ack or response to the querier, directly and
// through the relays the query asked for.
func (n *Node) sendQueryResponse(q *queryMsg, resp *queryResponseMsg) error {
	if q.SourceNode == n.cfg.Name {
		n.handleQueryResponse(resp)
		return nil
	}
	addr := net.JoinHostPort(net.IP(q.Addr).String(), strconv.Itoa(int(q.Port)))
	buf := encodeMessage(msgQueryResponse, resp)
	err := n.list().SendToAddress(memberlist.Address{Addr: addr, Name: q.SourceNode}, buf)
	// Relay even when the direct send failed: that is what relays are for.
	n.relayResponse(q, buf)
	return err
}

func (n *Node) handleQueryResponse(m *queryResponseMsg) {
	n.queries.respMu.Lock()
	resp := n.queries.responses[m.LTime]
	n.queries.respMu.Unlock()
	if resp == nil || resp.id != m.ID {
		n.logger.Debug("response for an unknown or finished query", "from", m.From, "ltime", m.LTime)
		return
	}
	resp.deliver(m, &n.stats.duplicateResponses)
}
