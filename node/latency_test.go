package node

import (
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// latencyNet simulates a network with a fixed round trip time per pair of
// nodes: each node's transport holds every outgoing UDP packet for half
// the pair's round trip before sending it on a real socket, so a probe and
// its ack together take the full round trip. Streams (push/pull) are not
// delayed; they play no part in the coordinates.
type latencyNet struct {
	rtt func(from, to int) time.Duration

	mu    sync.Mutex
	index map[int]int // bound port -> node index
}

func newLatencyNet(rtt func(from, to int) time.Duration) *latencyNet {
	return &latencyNet{rtt: rtt, index: map[int]int{}}
}

// transport binds a real UDP/TCP transport on 127.0.0.1 for node i.
func (ln *latencyNet) transport(t testing.TB, i int) memberlist.Transport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatalf("transport for node %d: %v", i, err)
	}
	ln.mu.Lock()
	ln.index[nt.GetAutoBindPort()] = i
	ln.mu.Unlock()
	return &latencyTransport{NetTransport: nt, net: ln, from: i}
}

func (ln *latencyNet) delay(from int, addr string) (time.Duration, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, _ := strconv.Atoi(portStr)
	ln.mu.Lock()
	to, ok := ln.index[port]
	ln.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("no simulated node at %s", addr)
	}
	return ln.rtt(from, to) / 2, nil
}

type latencyTransport struct {
	*memberlist.NetTransport
	net  *latencyNet
	from int
}

// WriteTo returns the time the caller handed the packet over, so the held
// half round trip counts in memberlist's probe timing, as a slow link
// would.
func (lt *latencyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	d, err := lt.net.delay(lt.from, addr)
	if err != nil {
		return now, err
	}
	buf := append([]byte(nil), b...)
	time.AfterFunc(d, func() { _, _ = lt.NetTransport.WriteTo(buf, addr) })
	return now, nil
}

// WriteToAddress hides NetTransport's node-aware method so that every
// packet goes through WriteTo.
func (lt *latencyTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	return lt.WriteTo(b, addr.Addr)
}

// DialAddressTimeout is NetTransport's, under the node-aware name.
func (lt *latencyTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return lt.NetTransport.DialTimeout(addr.Addr, timeout)
}

var _ memberlist.NodeAwareTransport = (*latencyTransport)(nil)
