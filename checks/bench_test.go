//go:build unix

// The benchmarks count CPU time with getrusage, which Windows lacks.

package checks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

func BenchmarkProbe_HTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }))
	b.Cleanup(srv.Close)
	p := newHTTPProber(Definition{ID: "c", HTTP: srv.URL, Interval: time.Second})
	for b.Loop() {
		if r := p.probe(b.Context()); r.note != "HTTP 200 OK" {
			b.Fatal(r.note)
		}
	}
}

func BenchmarkProbe_TCP(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := tcpProber{Definition{ID: "c", TCP: l.Addr().String(), Interval: time.Second}}
	for b.Loop() {
		p.probe(b.Context())
	}
}

func BenchmarkProbe_Script(b *testing.B) {
	p := scriptProber{Definition{ID: "c", Args: []string{"/bin/true"}, Interval: time.Second, Timeout: 10 * time.Second}}
	for b.Loop() {
		p.probe(b.Context())
	}
}

// BenchmarkRunner_100HTTPChecks runs 100 http checks at a 1s interval
// against one local server for 5s per iteration and reports the process
// CPU time per wall second (server side included, so an upper bound).
func BenchmarkRunner_100HTTPChecks(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }))
	b.Cleanup(srv.Close)
	var defs []Definition
	for i := range 100 {
		defs = append(defs, Definition{ID: string(rune('a'+i/26)) + string(rune('a'+i%26)), HTTP: srv.URL, Interval: time.Second})
	}
	const window = 5 * time.Second
	var cpu, wall time.Duration
	for b.Loop() {
		r := NewRunner(nil, nil)
		if err := r.Set(defs); err != nil {
			b.Fatal(err)
		}
		before, start := cpuTime(b), time.Now()
		ctx, cancel := context.WithTimeout(b.Context(), window)
		r.Run(ctx)
		cancel()
		cpu += cpuTime(b) - before
		wall += time.Since(start)
	}
	b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
