package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestHeldConn holds two keep-alive connections to a real HTTP server on
// 127.0.0.1, has the server close one, and checks that the watch records
// that close with its kind while the other answers a last request when
// the hold stops.
func TestHeldConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var serverConns []net.Conn
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "h1") }),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				mu.Lock()
				serverConns = append(serverConns, c)
				mu.Unlock()
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	u, err := url.Parse("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	var held []*heldConn
	for range 2 {
		hc, err := openHeld(u, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if hc.Server != "h1" || hc.Answers != 1 {
			t.Fatalf("opened a connection: got server %q after %d answers, want h1 after 1", hc.Server, hc.Answers)
		}
		held = append(held, hc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make([]chan struct{}, len(held))
	for i, hc := range held {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			hc.watch(ctx, 20*time.Millisecond, 2*time.Second)
		}()
	}
	mu.Lock()
	if len(serverConns) != 2 {
		t.Fatalf("got %d server-side connections, want 2", len(serverConns))
	}
	closedAt := time.Now()
	_ = serverConns[0].Close()
	mu.Unlock()
	// The first connection's watch ends on its own when it sees the close.
	select {
	case <-done[0]:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not see the server close the connection within 10s")
	}
	cancel()
	<-done[1]
	if got := held[0]; got.ClosedNs < closedAt.UnixNano() || got.Err != "eof" {
		t.Errorf("closed connection: got closed_ns %d (close at %d), err %q, want after the close, eof", got.ClosedNs, closedAt.UnixNano(), got.Err)
	}
	if got := held[1]; got.ClosedNs != 0 || got.Err != "" || got.Answers < 2 {
		t.Errorf("open connection: got closed_ns %d, err %q, %d answers; want open and at least 2 answers", got.ClosedNs, got.Err, got.Answers)
	}
}
