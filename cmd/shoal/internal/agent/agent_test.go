package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// These tests run whole agents in the test binary, several at a time, on
// 127.0.0.1 with port 0, and reach them through their HTTP API.

const waitLong = 20 * time.Second // generous: -race on a loaded 2-core machine

// testConfig is one agent on loopback with shrunk gossip timings, DNS off.
func testConfig(name string) config.Config {
	cfg := config.DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DNSAddr = ""
	cfg.Profile = "local"
	cfg.LogLevel = slog.LevelDebug
	cfg.MemberQuiescentPeriod, cfg.MemberCoalescePeriod = 0, 0
	cfg.Gossip = config.Gossip{
		EventPushRate:  cfg.Gossip.EventPushRate, // the default: events pushed as in production
		GossipInterval: 20 * time.Millisecond,
		// Generous probes: under -race a short timeout fails healthy nodes.
		ProbeInterval: 400 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond,
		SuspicionMult: 3,
		// No periodic push-pull: TCP is used only by joins, which the
		// metrics test counts.
		PushPullInterval: time.Hour,
		LeaveTimeout:     2 * time.Second,
	}
	return cfg
}

// testAgent is a running agent, its logs and how to stop it.
type testAgent struct {
	*Agent
	logs   *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// newTestAgent makes an agent with its own logger; it does not run it.
func newTestAgent(t *testing.T, cfg config.Config) *testAgent {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	logger, hub := logging.New(logs, "json", cfg.LogLevel)
	a, err := New(cfg, logger, hub)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	return &testAgent{Agent: a, logs: logs, done: make(chan error, 1)}
}

// startAgent runs a new agent until the test ends, and waits until its API
// answers (gossip runs by then: Run starts it first).
func startAgent(t *testing.T, cfg config.Config) *testAgent {
	t.Helper()
	ta := newTestAgent(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel = cancel
	go func() { ta.done <- ta.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
		case <-time.After(waitLong):
			t.Errorf("%s: Run did not return after its context ended", cfg.NodeName)
		}
	})
	testutil.WaitFor(t, waitLong, func() error {
		var info api.Info
		return ta.call(http.MethodGet, "/v1/info", nil, &info)
	})
	return ta
}

// call sends a JSON request to the agent's own API listener.
func (ta *testAgent) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+ta.HTTPAddr()+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// members is the agent's view: name -> status.
func (ta *testAgent) members(t *testing.T) map[string]api.Member {
	t.Helper()
	var ms []api.Member
	if err := ta.call(http.MethodGet, "/v1/members", nil, &ms); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.Member{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

// waitStatus waits until ta sees member name with status want.
func (ta *testAgent) waitStatus(t *testing.T, name, want string) {
	t.Helper()
	testutil.WaitFor(t, waitLong, func() error {
		m, ok := ta.members(t)[name]
		if !ok || m.Status != want {
			return fmt.Errorf("%s sees %s as %+v, want status %s", ta.Name(), name, m, want)
		}
		return nil
	})
}

// join makes ta join other through the API.
func (ta *testAgent) join(t *testing.T, other *testAgent) {
	t.Helper()
	var jr api.JoinResponse
	if err := ta.call(http.MethodPost, "/v1/join", api.JoinRequest{Addrs: []string{other.GossipAddr()}}, &jr); err != nil {
		t.Fatal(err)
	}
	if jr.Joined != 1 {
		t.Fatalf("joined %d, want 1", jr.Joined)
	}
	ta.waitStatus(t, other.Name(), "alive")
	other.waitStatus(t, ta.Name(), "alive")
}

// stop ends Run without leaving and returns its error.
func (ta *testAgent) stop(t *testing.T) error {
	t.Helper()
	ta.cancel()
	select {
	case err := <-ta.done:
		ta.done <- err // for Cleanup
		return err
	case <-time.After(waitLong):
		t.Fatalf("%s: Run did not return", ta.Name())
		return nil
	}
}

// checkLogs fails on ERROR records and on records with a key twice.
func checkLogs(t *testing.T, name, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: log line is not JSON: %q", name, line)
			continue
		}
		if rec["level"] == "ERROR" {
			t.Errorf("%s logged an ERROR: %s", name, line)
		}
		if _, ok := rec["error"]; ok {
			t.Errorf("%s logged an error under key \"error\", not \"err\": %s", name, line)
		}
		if n := strings.Count(line, `"component":`); n > 1 {
			t.Errorf("%s logged component %d times: %s", name, n, line)
		}
	}
}

// Three agents in one process: join, members, an event, a query, tags set
// through the API that survive a reload, a leave; every log line clean.
func TestAgent_InProcessCluster(t *testing.T) {
	a := startAgent(t, testConfig("a"))
	b := startAgent(t, testConfig("b"))
	b.join(t, a)

	// An event sent through a's API reaches b.
	events, stop := b.Subscribe(16)
	defer stop()
	if err := a.call(http.MethodPost, "/v1/event", api.EventRequest{Name: "deploy", Payload: "v2"}, nil); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "deploy", "v2")

	// The built-in config-hash query is answered by both agents.
	if got := queryResponders(t, a, api.QueryRequest{Name: api.QueryConfigHash, Timeout: "5s"}); got != "a,b" {
		t.Errorf("config-hash answered by %q, want a,b", got)
	}

	// Tags set through the API survive a reload that changes config tags.
	if err := a.call(http.MethodPost, "/v1/tags", api.TagsRequest{Set: map[string]string{"role": "web"}}, nil); err != nil {
		t.Fatal(err)
	}
	next := a.config()
	next.Tags = map[string]string{"dc": "east"}
	if err := a.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	testutil.WaitFor(t, waitLong, func() error {
		got := b.members(t)["a"].Tags
		if got["role"] != "web" || got["dc"] != "east" {
			return fmt.Errorf("b sees a's tags %v, want role=web and dc=east", got)
		}
		return nil
	})

	// A leave through the API ends b's Run cleanly; a sees b leave.
	if err := b.call(http.MethodPost, "/v1/leave", nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			t.Fatalf("b's Run after the API leave: %v, want nil", err)
		}
	case <-time.After(waitLong):
		t.Fatal("b's Run did not return after the API leave")
	}
	a.waitStatus(t, "b", "left")
	if err := a.stop(t); err != nil {
		t.Fatalf("a's Run: %v", err)
	}
	checkLogs(t, "a", a.logs.String())
	checkLogs(t, "b", b.logs.String())
}

func waitEvent(t *testing.T, events <-chan node.Event, name, payload string) {
	t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case e := <-events:
			if ue, ok := e.(*node.UserEvent); ok && ue.Name == name {
				if string(ue.Payload) != payload {
					t.Fatalf("event %s payload %q, want %q", name, ue.Payload, payload)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no user event %q within %s", name, waitLong)
		}
	}
}

// queryResponders runs a query through ta's API and returns the sorted,
// comma-joined names of the members that answered.
func queryResponders(t *testing.T, ta *testAgent, q api.QueryRequest) string {
	t.Helper()
	b, _ := json.Marshal(q)
	resp, err := http.Post("http://"+ta.HTTPAddr()+"/v1/query", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var from []string
	dec := json.NewDecoder(resp.Body)
	for {
		var l api.QueryLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("query stream: %v", err)
		}
		if l.Type == "response" {
			from = append(from, l.From)
		}
	}
	slices.Sort(from)
	return strings.Join(from, ",")
}

// The last two agents leaving at once each see the other go, with nobody
// left to tell: both leaves are clean, so systemd does not mark them
// failed (issue 10).
func TestAgent_LastTwoLeaveCleanly(t *testing.T) {
	a := startAgent(t, testConfig("a"))
	b := startAgent(t, testConfig("b"))
	b.join(t, a)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ta := range []*testAgent{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			errs[i] = ta.Leave(ctx)
		}()
	}
	wg.Wait()
	for i, ta := range []*testAgent{a, b} {
		if errs[i] != nil {
			t.Errorf("%s: Leave: %v, want nil", ta.Name(), errs[i])
		}
		select {
		case err := <-ta.done:
			ta.done <- err
			if err != nil {
				t.Errorf("%s: Run after Leave: %v, want nil", ta.Name(), err)
			}
		case <-time.After(waitLong):
			t.Fatalf("%s: Run did not return after Leave", ta.Name())
		}
	}
}

// gauge reads a metric's value from the agent's own registry; ok is false
// when the registry has no such metric.
func metricValue(t *testing.T, a *Agent, name string) (float64, bool) {
	t.Helper()
	fams, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.Name != name {
			continue
		}
		sum := 0.0
		for _, m := range f.Metrics {
			sum += m.Value
		}
		return sum, true
	}
	return 0, false
}

// Each agent counts its own gossip: memberlist reports through go-metrics'
// process-wide instance, and the agent's id routes each metric home. b
// joins a over TCP, so only a accepted a connection and only b opened one;
// c, alone, did neither.
func TestAgent_MetricsPerAgent(t *testing.T) {
	c := startAgent(t, testConfig("c"))
	a := startAgent(t, testConfig("a"))
	b := startAgent(t, testConfig("b"))
	b.join(t, a)
	const accept, connect = "shoal_memberlist_tcp_accept", "shoal_memberlist_tcp_connect"
	testutil.WaitFor(t, waitLong, func() error {
		if v, _ := metricValue(t, a.Agent, accept); v < 1 {
			return fmt.Errorf("a's %s = %v, want >= 1", accept, v)
		}
		if v, _ := metricValue(t, b.Agent, connect); v < 1 {
			return fmt.Errorf("b's %s = %v, want >= 1", connect, v)
		}
		return nil
	})
	// c joined no one, so any stream count it shows is a or b's: a shared
	// registry. (a and b may each both accept and connect: the catalog
	// fetch and push-pull go either way once they know each other.)
	for _, name := range []string{accept, connect} {
		if v, ok := metricValue(t, c.Agent, name); ok && v != 0 {
			t.Errorf("c's %s = %v, want none: another agent's counter", name, v)
		}
	}
}

// New starts nothing: no goroutine before Run. When the HTTP port is
// busy, New fails, says so, and leaves nothing behind.
func TestAgent_NewStartsNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	base := runtime.NumGoroutine()
	goroutinesBack := func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, want at most %d as before New", n, base)
		}
		return nil
	}

	cfg := testConfig("busy")
	cfg.EventHandlers = []string{"user:deploy=true"}
	cfg.MemberQuiescentPeriod, cfg.MemberCoalescePeriod = time.Second, 3*time.Second
	cfg.HTTPAddr = busy.Addr().String()
	if _, err := New(cfg, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "http api") {
		t.Fatalf("New on a busy HTTP port: %v, want an http api error", err)
	}
	testutil.WaitFor(t, waitLong, goroutinesBack)

	cfg.HTTPAddr = "127.0.0.1:0"
	a, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitLong, goroutinesBack)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The port is free again.
	ln, err := net.Listen("tcp", a.HTTPAddr())
	if err != nil {
		t.Fatalf("HTTP port still held after Close: %v", err)
	}
	ln.Close()
}

// Run returns after everything it started, and a second Run is refused.
func TestAgent_RunOnce(t *testing.T) {
	ta := startAgent(t, testConfig("once"))
	if err := ta.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := ta.Run(context.Background()); err == nil {
		t.Fatal("second Run: nil, want an error")
	}
	checkLogs(t, "once", ta.logs.String())
}

// A reload the node would refuse (a tag over the metadata limit) is
// refused whole: the running tags stay.
func TestAgent_ReloadRefusesBadConfig(t *testing.T) {
	ta := startAgent(t, testConfig("r"))
	next := ta.config()
	next.Tags = map[string]string{"big": strings.Repeat("x", 600)}
	if err := ta.Reload(next); err == nil {
		t.Fatal("Reload with 600-byte tags: nil, want an error")
	}
	if got := ta.Tags(); len(got) != 0 {
		t.Errorf("tags after a refused reload: %v, want none", got)
	}
}

// The API handler serves through httptest as well as the agent's own
// listener.
func TestAgent_HandlerWithHTTPTest(t *testing.T) {
	ta := startAgent(t, testConfig("h"))
	srv := httptest.NewServer(ta.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/members")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms []api.Member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "h" || ms[0].Status != "alive" {
		t.Errorf("members through httptest: %+v, want h alive", ms)
	}
}

// An agent rendering a template validated by the real haproxy stops
// without logging an ERROR: a check cut short by shutdown is not a
// rejected file (issue 10).
func TestAgent_ShutdownWithTemplateLogsNoError(t *testing.T) {
	if !onPath("haproxy") {
		t.Skip("haproxy not installed")
	}
	dir := t.TempDir()
	fc := loadConfig(t, fmt.Sprintf(`
template {
  name           = "edge"
  source         = "builtin:haproxy"
  destination    = %q
  reload_command = ["true"]
  wait { 
    min = "10ms"
    max = "50ms"
  }
}
`, dir+"/haproxy.cfg"))
	key, err := config.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("tmpl")
	cfg.Templates, cfg.EncryptKey = fc.Templates, key
	cfg.Services = []node.Service{{Name: "web", Port: 8080, Weight: 1}}
	ta := startAgent(t, cfg)
	testutil.WaitFor(t, waitLong, func() error {
		var rr api.RenderResponse
		if err := ta.call(http.MethodGet, "/v1/render", nil, &rr); err != nil {
			return err
		}
		st := rr.Templates
		if len(st) != 1 || !st[0].OK || st[0].Hash == "" {
			return fmt.Errorf("render status %+v, want edge rendered ok", st)
		}
		return nil
	})
	// A service change makes a render start; stop while it may run.
	next := ta.config()
	next.Services = []node.Service{{Name: "web", Port: 8081, Weight: 1}}
	if err := ta.Reload(next); err != nil {
		t.Fatal(err)
	}
	if err := ta.stop(t); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, "tmpl", ta.logs.String())
}

// A shutdown while a template's check runs cuts the check short: that is
// logged at info, never as a rejected file at ERROR.
func TestAgent_ShutdownDuringCheckLogsNoError(t *testing.T) {
	dir := t.TempDir()
	started := dir + "/check-started"
	fc := loadConfig(t, fmt.Sprintf(`
template {
  name        = "slow"
  source      = "builtin:haproxy"
  destination = %q
  backend     = "command"
  check       = ["sh", "-c", "touch %s; sleep 60", "{{path}}"]
  reload      = ["true"]
}
`, dir+"/out.cfg", started))
	key, err := config.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("slow")
	cfg.Templates, cfg.EncryptKey = fc.Templates, key
	ta := startAgent(t, cfg)
	testutil.WaitFor(t, waitLong, func() error {
		if _, err := os.Stat(started); err != nil {
			return fmt.Errorf("check not started yet: %v", err)
		}
		return nil
	})
	if err := ta.stop(t); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, "slow", ta.logs.String())
	if !strings.Contains(ta.logs.String(), "render cut short by shutdown") {
		t.Errorf("no 'render cut short by shutdown' line in:\n%s", ta.logs.String())
	}
}

// A monitor attached through the API ends cleanly when the agent leaves:
// the stream is closed by the agent (a complete response), not cut when
// the HTTP shutdown gives up waiting for it.
func TestAgent_LeaveEndsAttachedMonitorCleanly(t *testing.T) {
	a := startAgent(t, testConfig("a"))
	resp, err := http.Get("http://" + a.HTTPAddr() + "/v1/monitor")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadBytes('\n'); err != nil { // the hello line: subscribed
		t.Fatalf("monitor hello: %v", err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		read <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := a.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	select {
	case err := <-read:
		if err != nil {
			t.Errorf("monitor stream after leave: %v, want a clean end", err)
		}
	case <-time.After(waitLong):
		t.Fatal("the monitor stream did not end after the agent left")
	}
	if err := <-a.done; err != nil {
		t.Errorf("Run after Leave: %v", err)
	}
	a.done <- nil // for Cleanup
	checkLogs(t, "a", a.logs.String())
}
