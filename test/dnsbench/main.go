// Command dnsbench serves DNS on loopback for test/dnsperf.sh: either
// shoal's dns.Server over a static 20-member snapshot, or a bare UDP
// responder that echoes each query back as an empty answer, the ceiling a
// Go UDP server with shoal's socket layout reaches on this machine. It
// prints "addr HOST:PORT" once it serves and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"

	"github.com/shoal-dev/shoal/dns"
	"github.com/shoal-dev/shoal/node"
)

func main() {
	mode := flag.String("mode", "shoal", "shoal | bare")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dnsbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch *mode {
	case "shoal":
		err = serveShoal(ctx, *addr)
	case "bare":
		err = serveBare(ctx, *addr)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// staticView never changes: the benchmark measures answering, not
// rebuilding.
type staticView struct{ snap *node.Snapshot }

func (v staticView) Snapshot() *node.Snapshot         { return v.snap }
func (v staticView) Watch() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// benchSnapshot has 20 alive members, each offering "web" (tagged v1 or v2)
// and "api".
func benchSnapshot() *node.Snapshot {
	s := &node.Snapshot{Self: "node-00", Version: 1}
	for i := range 20 {
		s.Members = append(s.Members, node.Member{
			Name:   fmt.Sprintf("node-%02d", i),
			Addr:   net.IPv4(127, 0, 1, byte(1+i)),
			Status: node.StatusAlive,
			Tags:   map[string]string{"role": "web", "rack": fmt.Sprint(i % 4)},
			Services: []node.Service{
				{Name: "web", Port: 8080, Tags: []string{fmt.Sprintf("v%d", 1+i%2)}, Weight: 10},
				{Name: "api", Port: 9000 + uint16(i)},
			},
		})
	}
	return s
}

func serveShoal(ctx context.Context, addr string) error {
	cfg := dns.DefaultConfig()
	cfg.Addr = addr
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := dns.New(cfg, staticView{benchSnapshot()}, logger)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Started():
		fmt.Println("addr", srv.Addr())
	case err := <-done:
		return err
	}
	return <-done
}

// serveBare answers every query with its own bytes, QR set and the
// counts of the other sections zeroed: a valid empty NOERROR reply made
// with no parsing. It reads with shoal's UDP layout: on Linux one
// SO_REUSEPORT socket per CPU with one reader each (readers sharing one
// socket take turns at its read lock, which made this "ceiling" slower
// than shoal), elsewhere one socket with a reader per CPU.
func serveBare(ctx context.Context, addr string) error {
	procs := runtime.GOMAXPROCS(0)
	n := sockets(procs)
	lc := net.ListenConfig{Control: reusePort}
	var conns []net.PacketConn
	for len(conns) < n {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		conns = append(conns, pc)
		addr = pc.LocalAddr().String() // the rest share the first one's port
	}
	fmt.Println("addr", addr)
	go func() {
		<-ctx.Done()
		for _, pc := range conns {
			pc.Close()
		}
	}()
	var wg sync.WaitGroup
	for i := range procs {
		pc := conns[i%len(conns)]
		wg.Go(func() {
			buf := make([]byte, 4096)
			for {
				n, from, err := pc.ReadFrom(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil || n < 12 {
					continue
				}
				buf[2] |= 0x80                               // QR
				buf[3] = 0                                   // RA=0, rcode NOERROR
				clear(buf[6:12])                             // no answer, authority or additional records
				_, _ = pc.WriteTo(buf[:qEnd(buf[:n])], from) // header and question only
			}
		})
	}
	wg.Wait()
	return nil
}

// qEnd returns where the first question ends, or len(b) when it does not
// parse, so the reply drops any OPT record the query carried.
func qEnd(b []byte) int {
	off := 12
	for off < len(b) {
		l := int(b[off])
		if l == 0 {
			if off+5 <= len(b) {
				return off + 5
			}
			break
		}
		off += 1 + l
	}
	return len(b)
}
