package dns

import (
	"context"

	mdns "github.com/miekg/dns"
)

// forward answers a name outside the domain from the recursors, trying each
// in turn with its own timeout, and answers SERVFAIL when none does. The
// upstream's response is relayed as is but fitted to this client: a UDP
// client may get TC and retry over TCP, which is then forwarded over TCP.
func (h *handler) forward(w mdns.ResponseWriter, req *mdns.Msg, tcp bool, size int) {
	client := h.udp
	if tcp {
		client = h.tcp
	}
	for _, upstream := range h.recursors {
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RecursorTimeout)
		resp, _, err := client.ExchangeContext(ctx, req, upstream)
		cancel()
		if err != nil {
			h.logger.Debug("dns: recursor failed", "recursor", upstream, "err", err)
			continue
		}
		if resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused {
			h.logger.Debug("dns: recursor declined", "recursor", upstream,
				"rcode", mdns.RcodeToString[resp.Rcode])
			continue
		}
		resp.Id = req.Id
		resp.RecursionAvailable = true
		h.write(w, resp, size)
		return
	}
	resp := new(mdns.Msg).SetRcode(req, mdns.RcodeServerFailure)
	resp.RecursionAvailable = true
	if req.IsEdns0() != nil {
		resp.SetEdns0(uint16(h.cfg.MaxUDPSize), false)
	}
	h.write(w, resp, size)
}
