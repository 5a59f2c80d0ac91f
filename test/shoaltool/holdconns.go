package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HoldResult is what hold prints as JSON when it stops: one entry per
// connection, in the order they were opened.
type HoldResult struct {
	Conns []HeldConn `json:"conns"`
}

// HeldConn is one long-lived connection.
type HeldConn struct {
	// Server is the body of its first answer: the backend it reached.
	Server string `json:"server"`
	// Answers counts the requests it answered.
	Answers int `json:"answers"`
	// ClosedNs is when it was found closed (Unix nanoseconds), 0 when it
	// was still open and answered a last request at the end.
	ClosedNs int64 `json:"closed_ns,omitempty"`
	// Err says how it ended: eof, reset, timeout, ... (see failureKind),
	// or "moved to NAME" when an answer came from another backend.
	Err string `json:"err,omitempty"`
}

// holdConns opens -n HTTP/1.1 keep-alive connections to -url and keeps
// them open until SIGTERM or -duration: each asks for the URL once at
// once (the answer names the backend) and again every -interval, and
// between requests watches its socket, so a close (haproxy shutting the
// session, the backend going away) is seen the moment it happens. It
// creates -ready once every connection answered, and prints a HoldResult
// when it stops, after a last request on each connection still open.
// Through a load balancer in tcp mode each connection stays on the
// backend it first reached: a long-lived session.
func holdConns(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	rawURL := fs.String("url", "http://127.0.0.1:80/", "URL to ask on each connection")
	n := fs.Int("n", 50, "connections to hold")
	interval := fs.Duration("interval", time.Second, "time between requests on a connection")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of one request")
	duration := fs.Duration("duration", 30*time.Minute, "stop after this long")
	ready := fs.String("ready", "", "file to create once every connection answered")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return fmt.Errorf("hold: -url %q: want http://HOST:PORT/PATH", *rawURL)
	}
	if *n <= 0 || *interval <= 0 || *timeout <= 0 {
		return errors.New("hold: -n, -interval and -timeout must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	conns := make([]*heldConn, *n)
	for i := range conns {
		hc, err := openHeld(u, *timeout)
		if err != nil {
			for _, c := range conns[:i] {
				c.conn.Close()
			}
			return fmt.Errorf("hold: connection %d of %d: %w", i+1, *n, err)
		}
		conns[i] = hc
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return fmt.Errorf("hold: %w", err)
		}
	}
	var wg sync.WaitGroup
	for _, hc := range conns {
		wg.Go(func() { hc.watch(ctx, *interval, *timeout) })
	}
	wg.Wait()
	res := HoldResult{Conns: make([]HeldConn, len(conns))}
	for i, hc := range conns {
		res.Conns[i] = hc.HeldConn
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// heldConn is one connection and what hold knows of it.
type heldConn struct {
	HeldConn
	conn net.Conn
	rd   *bufio.Reader
	req  *http.Request
}

// openHeld dials u's host and asks once; the answer names the server.
func openHeld(u *url.URL, timeout time.Duration) (*heldConn, error) {
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	hc := &heldConn{conn: conn, rd: bufio.NewReader(conn), req: req}
	if hc.Server, err = hc.ask(timeout); err != nil {
		conn.Close()
		return nil, err
	}
	return hc, nil
}

// ask sends one request on the connection and returns the answer's body.
func (hc *heldConn) ask(timeout time.Duration) (string, error) {
	_ = hc.conn.SetDeadline(time.Now().Add(timeout))
	if err := hc.req.Write(hc.conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(hc.rd, hc.req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", statusError(resp.StatusCode)
	}
	if resp.Close {
		return "", fmt.Errorf("server closes the connection: %w", io.EOF)
	}
	hc.Answers++
	return strings.TrimSpace(string(body)), nil
}

// watch asks every interval and, in between, waits on the socket: the
// server sends nothing unasked, so a read that ends before its deadline is
// the connection closing. When ctx ends, a last request tells whether the
// connection still works.
func (hc *heldConn) watch(ctx context.Context, interval, timeout time.Duration) {
	defer hc.conn.Close()
	// ctx is checked between waits, so stopping takes up to one interval.
	// (Cutting the wait short by moving the read deadline raced with a
	// request in flight, whose read then timed out and read as a close.)
	for {
		_ = hc.conn.SetReadDeadline(time.Now().Add(interval))
		if ctx.Err() != nil {
			break
		}
		_, err := hc.rd.Peek(1)
		var ne net.Error
		switch {
		case err == nil:
			hc.closed(errors.New("unasked data from the server"))
			return
		case !errors.As(err, &ne) || !ne.Timeout():
			hc.closed(err)
			return
		case ctx.Err() != nil:
			// Stopping: the last request below.
		default:
			if !hc.askSame(timeout) {
				return
			}
		}
	}
	hc.askSame(timeout)
}

// askSame asks once and records a close, or an answer from another backend
// than the first; it reports whether the connection is still good.
func (hc *heldConn) askSame(timeout time.Duration) bool {
	name, err := hc.ask(timeout)
	if err == nil && name != hc.Server {
		err = fmt.Errorf("moved to %s", name)
	}
	if err != nil {
		hc.closed(err)
		return false
	}
	return true
}

func (hc *heldConn) closed(err error) {
	hc.ClosedNs = time.Now().UnixNano()
	hc.Err = failureKind(err)
	if hc.Err == "other" {
		hc.Err = err.Error()
	}
}
