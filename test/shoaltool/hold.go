package main

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// holdStats counts one flood of held connections.
type holdStats struct {
	held    atomic.Int64 // open now
	opened  atomic.Int64 // connections established, re-opens included
	closed  atomic.Int64 // closed by the agent (EOF, reset) while flooding
	dialErr atomic.Int64 // dials that failed or timed out
}

const (
	// dialSlots bounds the dials in flight, so that thousands of
	// connections don't arrive as one SYN burst that overflows the
	// listen backlog and then waits out SYN retransmits.
	dialSlots = 64
	// reopenPause is how long a connection waits before it is opened
	// again after the agent closed it or a dial failed: short enough to
	// keep the pressure on, long enough that an agent which closes at
	// once doesn't turn the flood into a connect loop that eats the
	// machine.
	reopenPause = 50 * time.Millisecond
)

// hold keeps n TCP connections to addr open until ctx ends. Each sends
// greeting (may be nil) once connected, then reads and discards until the
// agent closes it, and is opened again. wg tracks the goroutines.
// Connections come from src (a loopback address, as every source here).
func hold(ctx context.Context, wg *sync.WaitGroup, src netip.Addr, addr string, n int, greeting []byte, st *holdStats) {
	slots := make(chan struct{}, dialSlots)
	for range n {
		wg.Go(func() { holdOne(ctx, src, addr, greeting, slots, st) })
	}
}

func holdOne(ctx context.Context, src netip.Addr, addr string, greeting []byte, slots chan struct{}, st *holdStats) {
	d := net.Dialer{Timeout: time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	buf := make([]byte, 512)
	for {
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		<-slots
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st.dialErr.Add(1)
			sleepUntil(ctx, time.Now().Add(reopenPause))
			continue
		}
		st.opened.Add(1)
		st.held.Add(1)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		if len(greeting) > 0 {
			_, _ = conn.Write(greeting)
		}
		for {
			if _, err := conn.Read(buf); err != nil {
				break
			}
		}
		stop()
		conn.Close()
		st.held.Add(-1)
		if ctx.Err() != nil {
			return
		}
		st.closed.Add(1)
		sleepUntil(ctx, time.Now().Add(reopenPause))
	}
}
