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
	t := &tally{limit: *count, ready: *ready,
		res: Result{Backends: map[string]int{}, Kinds: map[string]int{}, FailedStarts: map[int64]int{}}}
	var wg sync.WaitGroup
	if *rate > 0 {
		// A request stuck on a dead server does not hold back the next
		// ones, so the failures count the requests sent its way.
		interval := time.Second / time.Duration(*rate)
		start := time.Now()
		for i := 0; sleepUntil(ctx, start.Add(time.Duration(i)*interval)) && t.take(); i++ {
			wg.Go(func() {
				began := time.Now()
				body, err := get(client, *url)
				t.record(began, body, err)
			})
		}
	} else {
		for range *workers {
			wg.Go(func() {
				for ctx.Err() == nil && t.take() {
					began := time.Now()
					body, err := get(client, *url)
					if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
						return
					}
					t.record(began, body, err)
				}
			})
		}
	}
	wg.Wait()
	t.res.OKMillis = latencyMillis(t.latencies)
	return json.NewEncoder(os.Stdout).Encode(t.res)
}

// tally counts the load's requests as the workers finish them.
type tally struct {
	limit     int    // requests to issue at most; 0: no limit
	ready     string // file to create after the first success; "": none
	readyOnce sync.Once

	mu        sync.Mutex
	res       Result
	latencies []time.Duration
	issued    int
}

// take reports whether another request may start, counting it if so.
func (t *tally) take() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limit > 0 && t.issued >= t.limit {
		return false
	}
	t.issued++
	return true
}

// record counts one answer or failure of a request begun at began.
func (t *tally) record(began time.Time, body string, err error) {
	t.mu.Lock()
	if err != nil {
		t.res.Failed++
		t.res.Kinds[failureKind(err)]++
		t.res.FailedStarts[began.Unix()]++
		if len(t.res.Errors) < 10 {
			t.res.Errors = append(t.res.Errors, time.Now().Format("15:04:05.000 ")+err.Error())
		}
	} else {
		t.res.OK++
		t.res.Backends[body]++
		t.latencies = append(t.latencies, time.Since(began))
	}
	t.mu.Unlock()
	if err == nil && t.ready != "" {
		t.readyOnce.Do(func() { _ = os.WriteFile(t.ready, nil, 0o644) })
	}
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
