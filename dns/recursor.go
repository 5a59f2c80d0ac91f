package dns

import (
	"context"
	"errors"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Forwarding is bounded: at most cfg.MaxInflightForwards queries are with
// the recursors at once, each holding one socket and one goroutine until
// its recursor answers or RecursorTimeout passes. Past the bound a query
// gets SERVFAIL at once, so a flood against a dead upstream costs a fixed
// number of sockets, and the clients a fast answer to retry on.
//
// Each exchange dials a socket of its own rather than reusing one: a new
// source port and a new query ID per exchange are what keep a forged
// upstream answer out (RFC 5452 section 9.2), and the bound already caps
// the sockets.

// startForward takes a place for a forwarded query, or returns false when
// set's bound is reached; a true return must be followed by endForward. A
// counter rather than a channel of tokens, so a reload can move the bound
// while queries are in flight.
func (h *handler) startForward(set *settings) bool {
	if h.forwards.Add(1) <= int64(set.MaxInflightForwards) {
		return true
	}
	h.forwards.Add(-1)
	if total := h.forwardsRefused.Add(1); h.logForwards.allow() {
		h.logger.Warn("dns: forwarded queries at their bound; answering SERVFAIL",
			"max_inflight_forwards", set.MaxInflightForwards, "refused", total)
	}
	return false
}

func (h *handler) endForward() { h.forwards.Add(-1) }

// forward answers a name outside the domain from the recursors, trying each
// in turn with its own timeout, and answers SERVFAIL when none does. The
// upstream's response is relayed as is but fitted to this client: a UDP
// client may get TC and retry over TCP, which is then forwarded over TCP.
// The caller holds a place from startForward.
func (h *handler) forward(w mdns.ResponseWriter, req *mdns.Msg, set *settings, tcp bool, size int) {
	client := set.udp
	if tcp {
		client = set.tcp
	}
	clientID := req.Id
	for _, upstream := range set.recursors {
		req.Id = mdns.Id() // not the client's: a forger must guess it
		resp, err := h.exchange(client, req, upstream, set.RecursorTimeout)
		if err == nil && !sameQuestion(resp, req) {
			err = errors.New("the response is for another question")
		}
		if err != nil {
			h.logger.Debug("dns: recursor failed", "recursor", upstream, "err", err)
			continue
		}
		if resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused {
			h.logger.Debug("dns: recursor declined", "recursor", upstream,
				"rcode", mdns.RcodeToString[resp.Rcode])
			continue
		}
		resp.Id = clientID
		resp.RecursionAvailable = true
		h.write(w, resp, size)
		return
	}
	req.Id = clientID
	h.write(w, h.servfail(req, set), size)
}

// exchange asks upstream within timeout. Shutting the server down (h.ctx)
// closes the socket, which miekg/dns's read does not watch for.
func (h *handler) exchange(client *mdns.Client, req *mdns.Msg, upstream string, timeout time.Duration) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(h.ctx, timeout)
	defer cancel()
	conn, err := client.DialContext(ctx, upstream)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := client.ExchangeWithConnContext(ctx, req, conn)
	return resp, err
}

// servfail returns the SERVFAIL response to req.
func (h *handler) servfail(req *mdns.Msg, set *settings) *mdns.Msg {
	resp := new(mdns.Msg).SetRcode(req, mdns.RcodeServerFailure)
	resp.RecursionAvailable = len(set.recursors) > 0
	opt, _ := requestOPT(req)
	addOPT(resp, opt, set)
	return resp
}

// sameQuestion reports whether resp answers req's question (RFC 5452
// section 9.1); miekg/dns checks only the ID.
func sameQuestion(resp, req *mdns.Msg) bool {
	if len(resp.Question) != 1 || len(req.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], req.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
