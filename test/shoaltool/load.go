package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is what load prints as JSON when it stops.
type Result struct {
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Errors   []string       `json:"errors,omitempty"` // the first few failures
	Backends map[string]int `json:"backends"`         // answers per body
	// Kinds counts the failures by cause (see failureKind).
	Kinds map[string]int `json:"kinds,omitempty"`
	// FailedStarts counts the failures by the Unix second their request
	// started, so that a test can line them up with what it did.
	FailedStarts map[int64]int `json:"failed_starts,omitempty"`
	// OKMillis is the answers' latency: p50, p90, p99 and max, in ms.
	OKMillis []float64 `json:"ok_ms,omitempty"`
}

// load sends GET requests with n workers (or, with -rate, at a fixed rate
// whatever the answers take) until -duration passes, -count requests are
// done, or SIGTERM arrives; then it prints a Result. Every
// request opens a new connection, so each one goes through the load
// balancer's listener, which is what a reload could break.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:80/", "URL to fetch")
	workers := fs.Int("c", 4, "concurrent workers")
	duration := fs.Duration("duration", 10*time.Second, "stop after this long")
	count := fs.Int("n", 0, "stop after this many requests (0: no limit)")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	ready := fs.String("ready", "", "file to create once the first request succeeded")
	rate := fs.Int("rate", 0, "open loop: start this many requests a second, each on its own however long the others take (0: -c workers, each waiting for its answer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	var (
		mu        sync.Mutex
		res       = Result{Backends: map[string]int{}, Kinds: map[string]int{}, FailedStarts: map[int64]int{}}
		latencies []time.Duration
		issued    int
		readyOnce sync.Once
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if *count > 0 && issued >= *count {
			return false
		}
		issued++
		return true
	}
	record := func(began time.Time, body string, err error) {
		mu.Lock()
		if err != nil {
			res.Failed++
			res.Kinds[failureKind(err)]++
			res.FailedStarts[began.Unix()]++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, time.Now().Format("15:04:05.000 ")+err.Error())
			}
		} else {
			res.OK++
			res.Backends[body]++
			latencies = append(latencies, time.Since(began))
		}
		mu.Unlock()
		if err == nil && *ready != "" {
			readyOnce.Do(func() { _ = os.WriteFile(*ready, nil, 0o644) })
		}
	}
	var wg sync.WaitGroup
	if *rate > 0 {
		// A request stuck on a dead server does not hold back the next
		// ones, so the failures count the requests sent its way.
		interval := time.Second / time.Duration(*rate)
		start := time.Now()
		for i := 0; sleepUntil(ctx, start.Add(time.Duration(i)*interval)) && take(); i++ {
			wg.Go(func() {
				began := time.Now()
				body, err := get(client, *url)
				record(began, body, err)
			})
		}
	} else {
		for range *workers {
			wg.Go(func() {
				for ctx.Err() == nil && take() {
					began := time.Now()
					body, err := get(client, *url)
					if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
						return
					}
					record(began, body, err)
				}
			})
		}
	}
	wg.Wait()
	res.OKMillis = latencyMillis(latencies)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// latencyMillis returns p50, p90, p99 and max of ds in milliseconds, or
// nothing when ds is empty.
func latencyMillis(ds []time.Duration) []float64 {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	var out []float64
	for _, q := range []float64{0.50, 0.90, 0.99, 1} {
		i := max(int(math.Ceil(q*float64(len(ds))))-1, 0)
		out = append(out, float64(ds[i].Microseconds())/1000)
	}
	return out
}

// failureKind names why a request failed: "timeout" (the per-request
// timeout passed), "reset" (the connection was reset), "eof" (closed with
// no answer, as haproxy in tcp mode closes a client whose server it could
// not reach), "refused", "status NNN", or "other".
func failureKind(err error) string {
	var status statusError
	var ne net.Error
	switch {
	case errors.As(err, &status):
		return fmt.Sprintf("status %d", int(status))
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// statusError is an answer other than 200.
type statusError int

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %s", statusError(resp.StatusCode), strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

func (s statusError) Error() string { return fmt.Sprintf("status %d", int(s)) }
