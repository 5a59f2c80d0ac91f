package node

import (
	"errors"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cuttableTransport is memberlist's own UDP/TCP transport with a switch
// that cuts the node off the network, as a pulled cable would, without
// stopping the node: while cut it sends nothing, drops every packet it
// receives, fails every dial and closes every connection it accepts. The
// node itself keeps running and sees everyone else go silent.
type cuttableTransport struct {
	*memberlist.NetTransport
	cut     atomic.Bool
	closing atomic.Bool
	once    sync.Once
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
}

var _ memberlist.NodeAwareTransport = (*cuttableTransport)(nil)

var errCut = errors.New("test: link cut")

// newCuttableTransport binds 127.0.0.1 on a free port (TCP and UDP share
// it, so a port may need a few tries).
func newCuttableTransport(t testing.TB) *cuttableTransport {
	t.Helper()
	var nt *memberlist.NetTransport
	var err error
	for range 10 {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"},
			Logger:    log.New(discard{}, "", 0),
		})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	c := &cuttableTransport{
		NetTransport: nt,
		packets:      make(chan *memberlist.Packet),
		streams:      make(chan net.Conn),
		done:         make(chan struct{}),
	}
	go c.forwardPackets()
	go c.forwardStreams()
	return c
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// setCut cuts (true) or restores (false) the link.
func (c *cuttableTransport) setCut(cut bool) { c.cut.Store(cut) }

func (c *cuttableTransport) forwardPackets() {
	for {
		select {
		case <-c.done:
			return
		case p := <-c.NetTransport.PacketCh():
			if c.cut.Load() || c.closing.Load() {
				continue
			}
			select {
			case c.packets <- p:
			case <-c.done:
				return
			}
		}
	}
}

func (c *cuttableTransport) forwardStreams() {
	for {
		select {
		case <-c.done:
			return
		case conn := <-c.NetTransport.StreamCh():
			if c.cut.Load() || c.closing.Load() {
				conn.Close()
				continue
			}
			select {
			case c.streams <- conn:
			case <-c.done:
				conn.Close()
				return
			}
		}
	}
}

func (c *cuttableTransport) PacketCh() <-chan *memberlist.Packet { return c.packets }
func (c *cuttableTransport) StreamCh() <-chan net.Conn           { return c.streams }

func (c *cuttableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if c.cut.Load() {
		return time.Now(), nil // lost on the wire
	}
	return c.NetTransport.WriteTo(b, addr)
}

func (c *cuttableTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if c.cut.Load() {
		return time.Now(), nil
	}
	return c.NetTransport.WriteToAddress(b, a)
}

func (c *cuttableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.NetTransport.DialTimeout(addr, timeout)
}

func (c *cuttableTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.NetTransport.DialAddressTimeout(a, timeout)
}

// Shutdown stops the inner transport first, while the forwarders still
// drain (and drop) what its listeners hand over: they block on an
// unbuffered send, and the inner Shutdown waits for them.
func (c *cuttableTransport) Shutdown() error {
	c.closing.Store(true)
	err := c.NetTransport.Shutdown()
	c.once.Do(func() { close(c.done) })
	return err
}
