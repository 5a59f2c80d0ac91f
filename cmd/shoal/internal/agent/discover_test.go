package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/mdns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestDiscoverer_JoinsWhatPollsFind runs the discovery loop with polls
// that answer what an mDNS query would, and checks what it joins: the
// answers of one poll together, never itself, an address again only while
// no join with it has succeeded. The mDNS wire itself is exercised by the
// end-to-end test in cmd/shoal, in a private network namespace.
func TestDiscoverer_JoinsWhatPollsFind(t *testing.T) {
	entry := func(ip string, port int) *mdns.ServiceEntry {
		return &mdns.ServiceEntry{AddrV4: net.ParseIP(ip), Port: port}
	}
	polls := [][]*mdns.ServiceEntry{
		// first poll: self, a (twice, v4 and v6 answers), b, and junk
		{entry("127.0.0.1", 7000), entry("127.0.0.1", 7001), entry("127.0.0.1", 7001), entry("127.0.0.1", 7002), {Port: 7003}, entry("127.0.0.1", 0)},
		// second: a again (joined, skipped) and c, whose join fails
		{entry("127.0.0.1", 7001), entry("127.0.0.1", 7004)},
		// third: c again, retried because no join with it succeeded
		{entry("127.0.0.1", 7004)},
	}
	var mu sync.Mutex
	var joins [][]string
	pollCh := make(chan struct{}, 8)
	next := 0
	d := &discoverer{
		self: "127.0.0.1:7000",
		join: func(addrs []string) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			joins = append(joins, slices.Clone(addrs))
			if slices.Contains(addrs, "127.0.0.1:7004") && len(joins) == 2 {
				return 0, errors.New("connection refused")
			}
			return len(addrs), nil
		},
		query: func(ctx context.Context, entries chan<- *mdns.ServiceEntry) error {
			mu.Lock()
			i := next
			next++
			mu.Unlock()
			if i < len(polls) {
				for _, e := range polls[i] {
					entries <- e
				}
			}
			pollCh <- struct{}{}
			return nil
		},
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		poll:  50 * time.Millisecond,
		quiet: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.run(ctx); close(done) }()
	want := [][]string{{"127.0.0.1:7001", "127.0.0.1:7002"}, {"127.0.0.1:7004"}, {"127.0.0.1:7004"}}
	testutil.WaitFor(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(joins) < len(want) {
			return fmt.Errorf("got joins %v, want three", joins)
		}
		return nil
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(joins) != len(want) {
		t.Fatalf("joins: got %v, want %v", joins, want)
	}
	for i := range want {
		if !slices.Equal(joins[i], want[i]) {
			t.Errorf("join %d: got %v, want %v", i, joins[i], want[i])
		}
	}
}

// A flood of mDNS answers (anyone on the link can send them) joins at most
// maxDiscoverBatch addresses per poll.
func TestDiscoverer_ForgedAnswersAreBounded(t *testing.T) {
	joined := make(chan []string, 1)
	d := &discoverer{
		self: "127.0.0.1:7000",
		join: func(addrs []string) (int, error) {
			joined <- slices.Clone(addrs)
			return 0, errors.New("no agent there")
		},
		query: func(ctx context.Context, entries chan<- *mdns.ServiceEntry) error {
			for i := range 1000 {
				select {
				case entries <- &mdns.ServiceEntry{AddrV4: net.ParseIP("127.0.0.1"), Port: 10000 + i}:
				case <-ctx.Done():
					return nil
				}
			}
			return nil
		},
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		poll:  time.Hour,
		quiet: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case addrs := <-joined:
		if len(addrs) != maxDiscoverBatch {
			t.Errorf("1,000 answers: joined %d addresses in one batch, want %d", len(addrs), maxDiscoverBatch)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("1,000 answers: no join within 30 s")
	}
}
