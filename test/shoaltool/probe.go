package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// A probe asks once and returns nil for a good answer; ctx carries its
// timeout.
type probe func(ctx context.Context) error

// A sample is one probe's outcome: how long it took and, if it failed,
// a short reason ("" when it succeeded).
type sample struct {
	took time.Duration
	fail string
}

// openLoop starts p rate times a second until ctx ends, each call in its
// own goroutine with its own timeout, however long earlier calls take: a
// slow server gets as many probes as a fast one, so its slowness shows in
// the latencies rather than in fewer samples. It returns once every call
// has finished.
func openLoop(ctx context.Context, rate int, timeout time.Duration, p probe) []sample {
	interval := time.Second / time.Duration(rate)
	var (
		mu  sync.Mutex
		out []sample
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := 0; sleepUntil(ctx, start.Add(time.Duration(i)*interval)); i++ {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			t := time.Now()
			err := p(pctx)
			s := sample{took: time.Since(t)}
			if err != nil {
				s.fail = reason(err)
			}
			mu.Lock()
			out = append(out, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// sleepUntil waits until t and reports whether ctx is still live then.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return ctx.Err() == nil
	}
}

// reason names a failure briefly, without the addresses and ports that
// would make every failure distinct.
func reason(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.EMFILE):
		return "EMFILE (tool)"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// dnsProbe asks addr for name's A records over UDP, from a new socket each
// time (as a stub resolver does), and wants NOERROR with an answer.
func dnsProbe(addr, name string, timeout time.Duration) probe {
	c := &mdns.Client{Net: "udp", Timeout: timeout}
	return func(ctx context.Context) error {
		m := new(mdns.Msg).SetQuestion(name, mdns.TypeA)
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err != nil {
			return err
		}
		if r.Rcode != mdns.RcodeSuccess {
			return fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
		if len(r.Answer) == 0 {
			return errors.New("empty answer")
		}
		return nil
	}
}

// healthProbe GETs /v1/health from addr over a new connection each time
// and wants 200 with status "ok". The transport has no proxy, so the
// request goes to addr whatever HTTP_PROXY says.
func healthProbe(addr string) probe {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	url := "http://" + addr + "/v1/health"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var h struct {
			Status string `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return fmt.Errorf("health body: %w", err)
		}
		if h.Status != "ok" {
			return fmt.Errorf("health status %q", h.Status)
		}
		return nil
	}
}

// waitAnswering polls both probes until each succeeds once, so that the
// baseline does not measure an agent still starting or a cluster still
// forming.
func waitAnswering(ctx context.Context, limit time.Duration, probes ...probe) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for i, p := range probes {
		var last error
		for {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			last = p(pctx)
			pcancel()
			if last == nil {
				break
			}
			if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
				return fmt.Errorf("probe %d did not succeed within %v: last error: %w", i+1, limit, last)
			}
		}
	}
	return nil
}

// summary is what a phase's samples of one probe come to.
type summary struct {
	sent, failed int
	// p50 and p99 count a failure as slower than any answer; -1 means the
	// percentile fell on a failure.
	p50, p99 time.Duration
	max      time.Duration // the slowest answer
	reasons  map[string]int
}

func summarize(samples []sample) summary {
	s := summary{sent: len(samples), reasons: map[string]int{}}
	var ok []time.Duration
	for _, x := range samples {
		if x.fail != "" {
			s.failed++
			s.reasons[x.fail]++
			continue
		}
		ok = append(ok, x.took)
	}
	slices.Sort(ok)
	if len(ok) > 0 {
		s.max = ok[len(ok)-1]
	}
	at := func(q float64) time.Duration {
		if s.sent == 0 {
			return 0
		}
		i := int(math.Ceil(q*float64(s.sent))) - 1 // nearest rank
		if i >= len(ok) {
			return -1
		}
		return ok[max(i, 0)]
	}
	s.p50, s.p99 = at(0.50), at(0.99)
	return s
}
