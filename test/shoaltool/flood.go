package main

import (
	"context"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"
)

// flood throws random bytes at UDP and TCP addresses for a bounded time:
// datagrams of random length, and TCP connections that write random bytes
// and close. It reports how many of each it sent.
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	udp := fs.String("udp", "", "comma-separated UDP targets")
	tcp := fs.String("tcp", "", "comma-separated TCP targets")
	duration := fs.Duration("duration", 5*time.Second, "how long")
	rate := fs.Int("rate", 2000, "datagrams or connections per second per target")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	type counts struct {
		Datagrams int `json:"datagrams"`
		Conns     int `json:"conns"`
	}
	done := make(chan counts)
	workers := 0
	for _, a := range split(*udp) {
		workers++
		go func() {
			var c counts
			conn, err := net.Dial("udp", a)
			if err == nil {
				defer conn.Close()
				buf := make([]byte, 1500)
				for pace := newPacer(*rate); ctx.Err() == nil && pace(ctx); {
					n := 1 + rand.IntN(len(buf))
					fill(buf[:n])
					if _, err := conn.Write(buf[:n]); err == nil {
						c.Datagrams++
					}
				}
			}
			done <- c
		}()
	}
	for _, a := range split(*tcp) {
		workers++
		go func() {
			var c counts
			buf := make([]byte, 4096)
			d := net.Dialer{Timeout: time.Second}
			for pace := newPacer(*rate); ctx.Err() == nil && pace(ctx); {
				conn, err := d.DialContext(ctx, "tcp", a)
				if err != nil {
					continue
				}
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				n := 1 + rand.IntN(len(buf))
				fill(buf[:n])
				_, _ = conn.Write(buf[:n])
				conn.Close()
				c.Conns++
			}
			done <- c
		}()
	}
	var total counts
	for range workers {
		c := <-done
		total.Datagrams += c.Datagrams
		total.Conns += c.Conns
	}
	return json.NewEncoder(os.Stdout).Encode(total)
}

func fill(b []byte) {
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// newPacer returns a func that blocks so that calls happen at most rate
// times a second (in batches every 10ms), so the flood is heavy but does
// not starve a small test machine. It returns false once ctx ends.
func newPacer(rate int) func(context.Context) bool {
	perTick := max(1, rate/100)
	left := perTick
	tick := time.NewTicker(10 * time.Millisecond)
	return func(ctx context.Context) bool {
		if left > 0 {
			left--
			return true
		}
		select {
		case <-ctx.Done():
			tick.Stop()
			return false
		case <-tick.C:
			left = perTick - 1
			return true
		}
	}
}
