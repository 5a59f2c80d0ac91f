package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
)

// client talks to an agent's HTTP API.
type client struct {
	addr  string
	token string
	hc    *http.Client
}

// clientFlags adds -http-addr and -http-token to a verb's flags.
func clientFlags(fs *flag.FlagSet) *client {
	c := &client{hc: &http.Client{}}
	addr := os.Getenv(config.HTTPAddrEnv)
	if addr == "" {
		addr = config.DefaultHTTPAddr
	}
	fs.StringVar(&c.addr, "http-addr", addr, "agent's HTTP API `ADDR:PORT` (or "+config.HTTPAddrEnv+")")
	fs.StringVar(&c.token, "http-token", os.Getenv(config.TokenEnv), "API `token` (or "+config.TokenEnv+")")
	return c
}

func (c *client) url(path string) string {
	if strings.HasPrefix(c.addr, "http://") || strings.HasPrefix(c.addr, "https://") {
		return strings.TrimSuffix(c.addr, "/") + path
	}
	return "http://" + c.addr + path
}

func (c *client) request(method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url(path), body)
	if err != nil {
		return nil, fmt.Errorf("bad -http-addr %q: %w", c.addr, err)
	}
	// The agent refuses a state-changing request that is not JSON (a
	// browser's cross-site form or text/plain POST), body or not.
	if in != nil || method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set(api.TokenHeader, c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &op) {
			return nil, fmt.Errorf("no agent answers at %s: start one with `shoal agent`, or point -http-addr or %s at a running agent", c.addr, config.HTTPAddrEnv)
		}
		return nil, fmt.Errorf("cannot reach the agent at %s: %w", c.addr, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return resp, apiError(resp)
	}
	return resp, nil
}

// apiError turns an answer that is not 2xx into an error that reads as a
// sentence: the message of an api.Error, or one line per node of a key
// operation's per-node messages, never the raw JSON.
func apiError(resp *http.Response) error {
	if resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("the agent refused the request (403): pass its token with -http-token or %s", config.TokenEnv)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var body struct {
		api.Error
		api.KeyResponse
	}
	if json.Unmarshal(b, &body) != nil {
		if msg := strings.TrimSpace(string(b)); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("the agent answered %s", resp.Status)
	}
	if body.Error.Error != "" {
		return errors.New(body.Error.Error)
	}
	if len(body.Messages) == 0 {
		return fmt.Errorf("the agent answered %s", resp.Status)
	}
	// The "error" entry is the agent's summary ("1 of 3 nodes reported
	// an error"); the others are keyed by node name.
	lines := make([]string, 0, len(body.Messages))
	if summary := body.Messages["error"]; summary != "" {
		lines = append(lines, summary)
	} else if body.NumNodes > 0 {
		lines = append(lines, fmt.Sprintf("%d of %d nodes reported an error", body.NumErr, body.NumNodes))
	}
	nodes := make([]string, 0, len(body.Messages))
	for n := range body.Messages {
		if n != "error" {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		lines = append(lines, n+": "+body.Messages[n])
	}
	return errors.New(strings.Join(lines, "\n"))
}

// call sends in (nil: no body) and decodes the answer into out (nil: discard).
func (c *client) call(method, path string, in, out any) error {
	resp, err := c.request(method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from the agent: %w", err)
	}
	return nil
}

// stream calls fn with each line of a newline-delimited JSON answer, as it
// arrives; opened, when not nil, once the agent has accepted the request.
func (c *client) stream(method, path string, in any, opened func(), fn func(line []byte) error) error {
	resp, err := c.request(method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if opened != nil {
		opened()
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stream from the agent broke: %w", err)
	}
	return nil
}
