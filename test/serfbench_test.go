//go:build linux

package test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSerfSideBySide runs Serf and shoal on the same namespaces with the
// same LAN timings, rounds interleaved (Serf, shoal, Serf, shoal...), and
// prints one side-by-side table (issue 13, "Serf parity"). It runs only
// with SHOAL_SERFBENCH=1 and SERF_BIN set (test/serf-vs-shoal.sh installs
// Serf and sets both), since it takes minutes.
//
// Knobs: SERFBENCH_SIZES (default "5,10"), SERFBENCH_ROUNDS (3),
// SERFBENCH_EVENTS (events per round, 10), SERFBENCH_SETTLE (idle time
// before the memory is read, 15s), SERFBENCH_SHOAL_DNS ("off" turns
// shoal's DNS server off; default on, as shipped).
func TestSerfSideBySide(t *testing.T) {
	if os.Getenv("SHOAL_SERFBENCH") != "1" {
		t.Skip("skipping: set SHOAL_SERFBENCH=1 and SERF_BIN (or run test/serf-vs-shoal.sh)")
	}
	needNetns(t)
	cfg, err := sideBySideConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32) // AES-256 for both, as `serf keygen` and `shoal keygen` make
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	cfg.key = base64.StdEncoding.EncodeToString(key)
	systems := []*benchSystem{serfSystem(cfg.serfBin), shoalSystem(bins.Shoal, cfg.shoalDNS)}
	res := map[string]map[int][]roundResult{}
	for _, sys := range systems {
		res[sys.name] = map[int][]roundResult{}
	}
	for _, n := range cfg.sizes {
		hosts := sideBySideNet(t, n)
		for r := 1; r <= cfg.rounds; r++ {
			for _, sys := range systems {
				rr, err := runSideBySideRound(t, cfg, sys, hosts, r)
				if err != nil {
					t.Fatalf("%s, %d hosts, round %d: %v", sys.name, n, r, err)
				}
				t.Logf("%s n=%d round %d: %s", sys.name, n, r, rr)
				res[sys.name][n] = append(res[sys.name][n], rr)
			}
		}
	}
	fmt.Print(sideBySideTable(cfg, systems, res))
}

// sideBySideConfig is one run's settings.
type sideBySideConfig struct {
	sizes    []int
	rounds   int
	events   int
	settle   time.Duration
	serfBin  string
	shoalDNS bool
	key      string
}

func sideBySideConfigFromEnv() (sideBySideConfig, error) {
	cfg := sideBySideConfig{rounds: 3, events: 10, settle: 15 * time.Second, shoalDNS: true}
	cfg.serfBin = os.Getenv("SERF_BIN")
	if cfg.serfBin == "" {
		return cfg, fmt.Errorf("SERF_BIN is empty: point it at a serf v0.10 binary (test/serf-vs-shoal.sh installs one)")
	}
	if _, err := os.Stat(cfg.serfBin); err != nil {
		return cfg, fmt.Errorf("SERF_BIN: %w", err)
	}
	sizes := os.Getenv("SERFBENCH_SIZES")
	if sizes == "" {
		sizes = "5,10"
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n > 50 {
			return cfg, fmt.Errorf("SERFBENCH_SIZES=%q: %q is not a host count in 2..50", sizes, s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	for _, kv := range []struct {
		env string
		dst *int
		max int
	}{{"SERFBENCH_ROUNDS", &cfg.rounds, 20}, {"SERFBENCH_EVENTS", &cfg.events, 100}} {
		if v := os.Getenv(kv.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > kv.max {
				return cfg, fmt.Errorf("%s=%q: want a count in 1..%d", kv.env, v, kv.max)
			}
			*kv.dst = n
		}
	}
	if v := os.Getenv("SERFBENCH_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			return cfg, fmt.Errorf("SERFBENCH_SETTLE=%q: want a duration in 0..5m", v)
		}
		cfg.settle = d
	}
	cfg.shoalDNS = os.Getenv("SERFBENCH_SHOAL_DNS") != "off"
	return cfg, nil
}

// sideBySideNet makes n agent hosts (h1..hn) and one more (hx) that joins
// at the end of each round; both systems run on these same namespaces.
func sideBySideNet(t *testing.T, n int) []*Host {
	net, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := net.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	dir := t.TempDir()
	var hosts []*Host
	for i := 1; i <= n+1; i++ {
		name := fmt.Sprintf("h%d", i)
		if i == n+1 {
			name = "hx"
		}
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		h, err := net.AddHost(name, firstWebIndex+i-1, d)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// benchSystem is how to run one of the two agents and its CLI.
type benchSystem struct {
	name string
	bin  string
	// agent returns the agent's arguments; join is "" for the first host.
	agent   func(h *Host, key, handler, join string) []string
	members []string // list members as JSON
	event   func(name string) []string
	join    func(addr string) []string
}

// Both CLIs talk to their agent on 127.0.0.1:7373 (Serf's RPC, shoal's
// HTTP API), each in its own namespace.
const sideBySideAPI = "127.0.0.1:7373"

func serfSystem(bin string) *benchSystem {
	rpc := "-rpc-addr=" + sideBySideAPI
	return &benchSystem{
		name: "Serf",
		bin:  bin,
		agent: func(h *Host, key, handler, join string) []string {
			args := []string{"agent", "-node=" + h.Name, fmt.Sprintf("-bind=%s:%d", h.IP, GossipPort),
				rpc, "-encrypt=" + key, "-profile=lan", "-event-handler=" + handler, "-log-level=info"}
			if join != "" {
				args = append(args, "-join="+join)
			}
			return args
		},
		members: []string{"members", "-format=json", rpc},
		event:   func(name string) []string { return []string{"event", "-coalesce=false", rpc, name, "p"} },
		join:    func(addr string) []string { return []string{"join", rpc, addr} },
	}
}

// shoalSystem runs shoal as shipped, with no template and no service: the
// same job as Serf's agent (membership, events, handlers), plus its DNS
// server unless dns is false.
func shoalSystem(bin string, dns bool) *benchSystem {
	api := "-http-addr=" + sideBySideAPI
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", DNSPort)
	if !dns {
		dnsAddr = ""
	}
	return &benchSystem{
		name: "shoal",
		bin:  bin,
		agent: func(h *Host, key, handler, join string) []string {
			gossip := fmt.Sprintf("%s:%d", h.IP, GossipPort)
			args := []string{"agent", "-node=" + h.Name, "-bind=" + gossip, "-advertise=" + gossip,
				api, "-dns-addr=" + dnsAddr, "-encrypt=" + key, "-profile=lan",
				"-event-handler=" + handler, "-log-level=info"}
			if join != "" {
				args = append(args, "-join="+join)
			}
			return args
		},
		members: []string{"members", "-format=json", api},
		event:   func(name string) []string { return []string{"event", "-coalesce=false", api, name, "p"} },
		join:    func(addr string) []string { return []string{"join", api, addr} },
	}
}

// cli runs one CLI command of sys on h and returns its output and duration.
func (s *benchSystem) cli(h *Host, args ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	out, err := h.Exec(ctx, nil, append([]string{s.bin}, args...)...)
	return out, time.Since(start), err
}

// aliveCount asks h's agent for its members and counts the alive ones.
func (s *benchSystem) aliveCount(h *Host) (int, error) {
	out, _, err := s.cli(h, s.members...)
	if err != nil {
		return 0, err
	}
	ms, err := parseMembers(out)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if m.Status == "alive" {
			n++
		}
	}
	return n, nil
}
