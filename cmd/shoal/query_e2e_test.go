package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// TestAPI_QueryTimeoutCappedAndFreedOnDisconnect: a query over the maximum
// timeout is refused, and a query whose client goes away is forgotten at
// once, not at its deadline (issue 9: the state of 6,000 abandoned
// long queries took the heap from 1.9 to 16.7 MB).
func TestAPI_QueryTimeoutCappedAndFreedOnDisconnect(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil)
	post := func(ctx context.Context, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+a.http+"/v1/query", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(context.Background(), `{"name":"long","timeout":"1h"}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "maximum of 5m0s") {
		t.Errorf("1h query: got %d %q, want 400 naming the 5m0s maximum", resp.StatusCode, b)
	}

	pending := func() (uint64, error) {
		r, err := http.Get("http://" + a.http + "/v1/info")
		if err != nil {
			return 0, err
		}
		defer r.Body.Close()
		var info api.Info
		if err := json.NewDecoder(r.Body).Decode(&info); err != nil {
			return 0, err
		}
		return info.Stats["pending_queries"], nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp = post(ctx, `{"name":"long","timeout":"4m"}`)
	// The agent's own ack arrives first: the query is under way.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"ack"`) {
		t.Fatalf("first line %q (%v), want the agent's ack", line, err)
	}
	if n, err := pending(); err != nil || n != 1 {
		t.Fatalf("while the query streams: pending_queries %d (%v), want 1", n, err)
	}
	cancel() // the client goes away
	resp.Body.Close()
	testutil.WaitFor(t, wait, func() error {
		n, err := pending()
		if err != nil || n != 0 {
			return fmt.Errorf("pending_queries %d (%v) after the client left, want 0", n, err)
		}
		return nil
	})
}

func TestCLI_QueryRelayFactor(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil)
	if r := shoal(t, a, "query", "-relay-factor", "256", "ping"); r.code != 2 || !strings.Contains(r.stderr, "-relay-factor 256 is over 255") {
		t.Errorf("-relay-factor 256: exit %d stderr %q, want 2 and the range", r.code, r.stderr)
	}
	out := mustShoal(t, a, "query", "-relay-factor", "2", "-timeout", "1s", "ping")
	if !strings.Contains(out, "Ack from 'a'") {
		t.Errorf("query -relay-factor 2: got %q, want a's ack", out)
	}
}

// TestAgent_SizeLimitsFromConfig: the agent's size limits reach the node.
func TestAgent_SizeLimitsFromConfig(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "limits.hcl")
	if err := os.WriteFile(conf, []byte("user_event_size_limit = 16\nquery_size_limit = 2000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "a", nil, "-config-file", conf)
	if r := shoal(t, a, "event", "deploy", "a-payload-past-16-bytes"); r.code != 1 || !strings.Contains(r.stderr, "16-byte limit") {
		t.Errorf("oversize event: exit %d stderr %q, want 1 and the 16-byte limit", r.code, r.stderr)
	}
	// 1,500 bytes is over node's default 1,024 but within the configured 2,000.
	out := mustShoal(t, a, "query", "-timeout", "1s", "ping", strings.Repeat("x", 1500))
	if !strings.Contains(out, "Ack from 'a'") {
		t.Errorf("1,500-byte query: got %q, want a's ack", out)
	}
}
