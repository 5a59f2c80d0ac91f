package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	mdns "github.com/miekg/dns"
)

// forwardSuffix is the zone the flooded names are under: example. is
// reserved (RFC 2606), so even an agent whose recursors were not the
// script's dead upstream would forward nothing anyone answers for.
const forwardSuffix = "example."

// forwardSockets spreads the flood over several client sockets, as many
// clients would, so it reaches every one of the agent's SO_REUSEPORT
// read loops (the kernel picks one by the client's address).
const forwardSockets = 8

// forwardStats counts the forwarded-query flood.
type forwardStats struct {
	sent     atomic.Int64
	sendErr  atomic.Int64
	servfail atomic.Int64 // SERVFAIL replies (the dead upstream's outcome)
	other    atomic.Int64 // any other reply
}

// forwardFlood sends rate queries a second for names x<N>.example. to the
// agent at addr until ctx ends. Every name is new, so none can be answered
// from a cache and each makes the agent ask its recursors. Replies are
// read and counted by rcode. wg tracks the goroutines.
func forwardFlood(ctx context.Context, wg *sync.WaitGroup, src netip.Addr, addr netip.AddrPort, rate int, st *forwardStats) error {
	conns := make([]*net.UDPConn, 0, forwardSockets)
	for range forwardSockets {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("forward flood: %w", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		context.AfterFunc(ctx, func() { c.Close() })
		wg.Go(func() { countReplies(c, st) })
	}
	wg.Go(func() {
		m := new(mdns.Msg)
		buf := make([]byte, 0, 512)
		for i, pace := 0, newPacer(rate); pace(ctx); i++ {
			m.SetQuestion(fmt.Sprintf("x%d.%s", i, forwardSuffix), mdns.TypeA)
			m.Id = uint16(i)
			out, err := m.PackBuffer(buf)
			if err == nil {
				_, err = conns[i%len(conns)].Write(out)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				st.sendErr.Add(1)
				continue
			}
			st.sent.Add(1)
		}
	})
	return nil
}

// countReplies reads replies on c until it is closed and counts them by
// rcode (the low four bits of the header's fourth byte).
func countReplies(c *net.UDPConn, st *forwardStats) {
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // ICMP port unreachable: the agent is not (yet) there
		}
		if err != nil {
			return // closed at the end of the flood
		}
		if n < 12 {
			continue
		}
		if buf[3]&0x0f == mdns.RcodeServerFailure {
			st.servfail.Add(1)
		} else {
			st.other.Add(1)
		}
	}
}
