package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// serve answers every request with the host name, so a client behind the
// load balancer can tell which backend served it. With -flap-path, that
// path answers 200 and 503 in turn, one per request, while the file
// -flap-file exists (always, when -flap-file is empty), and 200 otherwise:
// a health check polling it flips on every run.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "listen address")
	name := fs.String("name", "", "name to answer with")
	flapPath := fs.String("flap-path", "", "path answering 200 and 503 in turn")
	flapFile := fs.String("flap-file", "", "flap only while this file exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var flips atomic.Uint64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *flapPath != "" && r.URL.Path == *flapPath && flapping(*flapFile) && flips.Add(1)%2 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintln(w, *name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("serving %s on %s\n", *name, ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// flapping reports whether the flap path flaps: always without a control
// file, else while the file exists.
func flapping(file string) bool {
	if file == "" {
		return true
	}
	_, err := os.Stat(file)
	return err == nil
}
