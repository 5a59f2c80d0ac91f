package main

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestFailureKind makes each kind of failure happen against real sockets
// on 127.0.0.1 and checks the name load counts it under.
func TestFailureKind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Paths pick the behaviour: /close closes without answering (as
	// haproxy in tcp mode does when no server answers), /reset resets,
	// /hang never answers, anything else answers 503.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFailure(c)
		}
	}()
	// A port that was listened on and is now closed: nothing listens.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct{ url, want string }{
		{base + "/close", "eof"},
		{base + "/reset", "reset"},
		{base + "/hang", "timeout"},
		{base + "/503", "status 503"},
		{"http://" + deadAddr + "/", "refused"},
	} {
		_, err := get(client, tc.url)
		if err == nil {
			t.Errorf("GET %s: no error, want one of kind %q", tc.url, tc.want)
			continue
		}
		if got := failureKind(err); got != tc.want {
			t.Errorf("GET %s: failure %v counted as %q, want %q", tc.url, err, got, tc.want)
		}
	}
}

func serveFailure(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	req := string(buf[:n])
	switch {
	case len(req) > 10 && req[:10] == "GET /close":
	case len(req) > 10 && req[:10] == "GET /reset":
		_ = c.(*net.TCPConn).SetLinger(0)
	case len(req) > 9 && req[:9] == "GET /hang":
		_, _ = io.Copy(io.Discard, c) // answers nothing until the client hangs up
	default:
		_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown"))
	}
}

func TestLatencyMillis(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := latencyMillis(ds)
	want := []float64{50, 90, 99, 100}
	if len(got) != len(want) {
		t.Fatalf("latencyMillis: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("latencyMillis: got %v, want %v", got, want)
		}
	}
	if latencyMillis(nil) != nil {
		t.Errorf("latencyMillis(nil): want nil")
	}
}
