package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// recAgent is the part of an agent the guard tests reach; it records the
// state-changing calls so a test can tell a refused request changed
// nothing. Methods it does not define panic (nil embedded interface): a
// refused request must never get that far.
type recAgent struct {
	api.Agent
	mu      sync.Mutex
	changes []string
	render  func(ctx context.Context) error
}

func (a *recAgent) Name() string                       { return "self" }
func (a *recAgent) Members() []node.Member             { return nil }
func (a *recAgent) Tags() map[string]string            { return map[string]string{} }
func (a *recAgent) RenderStatus() []api.TemplateStatus { return nil }
func (a *recAgent) GossipSecurity() api.GossipSecurity { return api.GossipSecurity{Encrypted: true} }
func (a *recAgent) Subscribe(int) (<-chan node.Event, func()) {
	return make(chan node.Event), func() {}
}

func (a *recAgent) record(what string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.changes = append(a.changes, what)
}

func (a *recAgent) changed() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.changes...)
}

func (a *recAgent) UpdateTags(set map[string]string, del []string) (map[string]string, error) {
	a.record("tags")
	return set, nil
}

func (a *recAgent) Leave(context.Context) error { a.record("leave"); return nil }

func (a *recAgent) RenderNow(ctx context.Context, _ string) ([]api.TemplateStatus, error) {
	a.record("render")
	if a.render != nil {
		if err := a.render(ctx); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func newServer(t *testing.T, a api.Agent, opts api.Options) (*api.Server, *slog.Logger) {
	t.Helper()
	logger, hub := logging.New(io.Discard, "text", slog.LevelInfo)
	return api.NewServer(a, logger, hub, metrics.NewRegistry(), opts), logger
}

// TestServer_TrustRules runs requests a browser page or a rebinding
// attacker could send, and the operator's own, through the API.
// trustCase is one request to the API and the answer its trust rules give.
type trustCase struct {
	name         string
	method, path string
	host         string // "" is self
	hdr          map[string]string
	token        string // the server's
	want         int
	wantMsg      string // in the error answer
	wantChange   bool
}

func TestServer_TrustRules(t *testing.T) {
	for _, tc := range []trustCase{
		// Content type: a cross-site form or text/plain POST needs no CORS preflight.
		{name: "text/plain POST", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "text/plain"}, want: 415, wantMsg: "Content-Type: application/json"},
		{name: "form POST", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 415},
		{name: "no content type", method: "POST", path: "/v1/tags", want: 415},
		{name: "leave without JSON", method: "POST", path: "/v1/leave", hdr: map[string]string{"Content-Type": "text/plain"}, want: 415},
		{name: "PUT text/plain", method: "PUT", path: "/v1/tags", hdr: map[string]string{"Content-Type": "text/plain"}, want: 415},
		{name: "DELETE no type", method: "DELETE", path: "/v1/tags", want: 415},
		{name: "JSON POST", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json"}, want: 200, wantChange: true},
		{name: "JSON with charset", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "Application/JSON; charset=utf-8"}, want: 200, wantChange: true},
		{name: "leave JSON", method: "POST", path: "/v1/leave", hdr: map[string]string{"Content-Type": "application/json"}, want: 200, wantChange: true},

		// Origin and Sec-Fetch-Site: cross-origin browser requests.
		{name: "evil origin", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, want: 403, wantMsg: "cross-origin"},
		{name: "evil origin text/plain", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, want: 403},
		{name: "null origin", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "null"}, want: 403},
		{name: "origin on another port", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:8080"}, want: 403},
		{name: "origin https", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "https://127.0.0.1:7373"}, want: 403},
		{name: "origin by another name", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:7373"}, want: 403},
		{name: "origin GET", method: "GET", path: "/v1/members", hdr: map[string]string{"Origin": "http://evil.example"}, want: 403},
		{name: "origin is the API", method: "POST", path: "/v1/tags", hdr: map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:7373"}, want: 200, wantChange: true},
		{name: "origin default port", method: "GET", path: "/v1/members", host: "127.0.0.1:80", hdr: map[string]string{"Origin": "http://127.0.0.1"}, want: 200},
		{name: "cross-site fetch", method: "GET", path: "/v1/members", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403, wantMsg: "Sec-Fetch-Site"},
		{name: "same-site fetch", method: "GET", path: "/v1/members", hdr: map[string]string{"Sec-Fetch-Site": "same-site"}, want: 403},
		{name: "typed URL", method: "GET", path: "/v1/members", hdr: map[string]string{"Sec-Fetch-Site": "none"}, want: 200},
		{name: "same-origin fetch", method: "GET", path: "/v1/members", hdr: map[string]string{"Sec-Fetch-Site": "same-origin"}, want: 200},

		// Host: DNS rebinding.
		{name: "foreign host", method: "GET", path: "/v1/members", host: "evil.example", want: 421, wantMsg: "http_allowed_hosts"},
		{name: "foreign host with port", method: "GET", path: "/v1/members", host: "evil.example:7373", want: 421},
		{name: "foreign host POST", method: "POST", path: "/v1/tags", host: "evil.example:7373", hdr: map[string]string{"Content-Type": "application/json"}, want: 421},
		{name: "localhost subdomain", method: "GET", path: "/v1/members", host: "a.localhost:7373", want: 421},
		{name: "allowed name", method: "GET", path: "/v1/members", host: "shoal.internal", want: 200},
		{name: "allowed name, case and dot", method: "GET", path: "/v1/members", host: "SHOAL.Internal.:7373", want: 200},
		{name: "localhost", method: "GET", path: "/v1/members", host: "localhost:7373", want: 200},
		{name: "ipv6 literal", method: "GET", path: "/v1/members", host: "[::1]:7373", want: 200},
		{name: "ipv6 literal no port", method: "GET", path: "/v1/members", host: "[::1]", want: 200},
		{name: "ipv4 literal", method: "GET", path: "/v1/members", host: "10.1.2.3", want: 200},
		{name: "metrics by foreign name", method: "GET", path: "/metrics", host: "evil.example", want: 421},

		// /v1/health stays open: any name, any origin, no token.
		{name: "health foreign host", method: "GET", path: "/v1/health", host: "lb-probe.example", want: 200},
		{name: "health evil origin", method: "GET", path: "/v1/health", hdr: map[string]string{"Origin": "http://evil.example"}, want: 200},
		{name: "health no token", method: "GET", path: "/v1/health", token: "s3cret", want: 200},

		// Token.
		{name: "no token", method: "GET", path: "/v1/members", token: "s3cret", want: 403, wantMsg: api.TokenHeader},
		{name: "wrong token", method: "GET", path: "/v1/members", token: "s3cret", hdr: map[string]string{api.TokenHeader: "s3cre"}, want: 403},
		{name: "token", method: "GET", path: "/v1/members", token: "s3cret", hdr: map[string]string{api.TokenHeader: "s3cret"}, want: 200},
		{name: "bearer token", method: "GET", path: "/v1/members", token: "s3cret", hdr: map[string]string{"Authorization": "Bearer s3cret"}, want: 200},
		{name: "token but text/plain", method: "POST", path: "/v1/tags", token: "s3cret", hdr: map[string]string{api.TokenHeader: "s3cret", "Content-Type": "text/plain"}, want: 415},
		{name: "token but evil origin", method: "POST", path: "/v1/tags", token: "s3cret", hdr: map[string]string{api.TokenHeader: "s3cret", "Content-Type": "application/json", "Origin": "http://evil.example"}, want: 403},
	} {
		t.Run(tc.name, func(t *testing.T) { checkTrustRule(t, tc) })
	}
}

// checkTrustRule sends tc's request to a fresh server and checks the
// status, that a refusal is a JSON error naming its reason, that only an
// accepted request changed the agent, and that no CORS header is sent.
func checkTrustRule(t *testing.T, tc trustCase) {
	t.Helper()
	const self = "127.0.0.1:7373"
	const body = `{"set":{"role":"evil"}}`
	a := &recAgent{}
	srv, _ := newServer(t, a, api.Options{Token: tc.token, AllowedHosts: []string{"shoal.internal"}})
	var rb io.Reader
	if tc.method != "GET" {
		rb = strings.NewReader(body)
	}
	req := httptest.NewRequest(tc.method, "http://"+self+tc.path, rb)
	if tc.host != "" {
		req.Host = tc.host
	}
	for k, v := range tc.hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != tc.want {
		t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.want)
	}
	if rec.Code != 200 {
		var e api.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Errorf("error answer %q is not {\"error\": ...}: %v", rec.Body, err)
		}
		if !strings.Contains(e.Error, tc.wantMsg) {
			t.Errorf("error %q does not mention %q", e.Error, tc.wantMsg)
		}
	}
	if got := a.changed(); (len(got) > 0) != tc.wantChange {
		t.Errorf("agent changes: got %v, want changed=%v", got, tc.wantChange)
	}
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
		if v := rec.Header().Get(h); v != "" {
			t.Errorf("answer carries %s: %q; the API sends no CORS headers", h, v)
		}
	}
}

// TestServer_StreamsOutliveReadTimeout: http.Server's ReadTimeout bounds
// reading a request, and the API lifts it once the body is read, so a
// monitor stream and a long POST keep going past it.
func TestServer_StreamsOutliveReadTimeout(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	release := make(chan struct{})
	a := &recAgent{render: func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	srv, logger := newServer(t, a, api.Options{})
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ReadTimeout = readTimeout
	ts.Start()
	t.Cleanup(ts.Close)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before ts.Close, which waits for the handler

	nextLine := followMonitor(t, ts.URL)
	nextLine(`"hello"`)

	type answer struct {
		code int
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/render", "application/json", strings.NewReader(`{}`))
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{code: resp.StatusCode, body: string(b)}
	}()

	// Let the read deadline pass: that is the condition under test.
	time.Sleep(5 * readTimeout)

	logger.Info("after the read timeout")
	nextLine("after the read timeout")
	unblock()
	if got := <-done; got.err != nil || got.code != 200 {
		t.Fatalf("POST /v1/render that outlived the read timeout: got %d %q %v, want 200", got.code, got.body, got.err)
	}
}

// followMonitor opens GET /v1/monitor at url and returns nextLine, which
// waits for a line containing want; the stream ending or a stall (a
// canceled handler may leave the response unfinished) fails the test.
func followMonitor(t *testing.T, url string) (nextLine func(want string)) {
	t.Helper()
	mon, err := http.Get(url + "/v1/monitor")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Body.Close() })
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(mon.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return func(want string) {
		t.Helper()
		stall := time.NewTimer(10 * time.Second)
		defer stall.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("monitor stream ended, want a line with %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-stall.C:
				t.Fatalf("monitor stream stalled, want a line with %q", want)
			}
		}
	}
}
