//go:build linux

// Package test is shoal's multi-host harness: every host is a Linux network
// namespace joined to the others through one bridge, each running a real
// shoal agent and a small HTTP backend, with HAProxy in an "lb" namespace.
//
// Network safety: the bridge lives in a namespace of its own, so the root
// namespace gains no interface, route or rule. Addresses come from
// 10.77.0.0/24, there is no default route and no NAT, and nothing is
// attached to a real interface. Every name starts with NamePrefix and
// carries the pid of the test process, so leftovers of a crashed run are
// recognised (their pid is gone) and removed by CleanStale.
package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// NamePrefix starts every namespace the harness creates.
const NamePrefix = "shoalt-"

// Subnet is the only address range the harness uses, inside its namespaces.
const Subnet = "10.77.0"

// cmdTimeout bounds every ip/nft invocation.
const cmdTimeout = 20 * time.Second

var netSeq atomic.Int64

// Net is one isolated network: a bridge namespace and the hosts plugged in.
type Net struct {
	prefix   string // shoalt-<pid>-<seq>-
	bridgeNS string

	mu    sync.Mutex
	hosts []*Host
	procs []*Proc
}

// Host is one namespace with one interface (eth0) on the bridge.
type Host struct {
	Name string // short name, also the shoal node name
	NS   string // namespace name
	IP   string // address on eth0
	Dir  string // scratch directory for this host's files

	net  *Net
	port string // the veth end inside the bridge namespace
}

// Available reports why namespaces cannot be used here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("multi-host tests need root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("multi-host tests need iproute2: %w", err)
	}
	if err := run(context.Background(), "ip", "netns", "list"); err != nil {
		return fmt.Errorf("multi-host tests need `ip netns`: %w", err)
	}
	return nil
}

// NewNet creates the bridge namespace. Close removes everything it made.
func NewNet() (*Net, error) {
	n := &Net{prefix: fmt.Sprintf("%s%d-%d-", NamePrefix, os.Getpid(), netSeq.Add(1))}
	n.bridgeNS = n.prefix + "br"
	ctx := context.Background()
	steps := [][]string{
		{"ip", "netns", "add", n.bridgeNS},
		{"ip", "-n", n.bridgeNS, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", n.bridgeNS, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// AddHost creates a namespace with address Subnet.<index> and plugs it into
// the bridge. dir is where the host keeps its files.
func (n *Net) AddHost(name string, index int, dir string) (*Host, error) {
	if index < 1 || index > 250 {
		return nil, fmt.Errorf("host %s: index %d out of 1..250", name, index)
	}
	h := &Host{
		Name: name,
		NS:   n.prefix + name,
		IP:   fmt.Sprintf("%s.%d", Subnet, index),
		Dir:  dir,
		net:  n,
		port: fmt.Sprintf("v%d", index),
	}
	if err := run(context.Background(), "ip", "netns", "add", h.NS); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	ctx := context.Background()
	steps := [][]string{
		// Both veth ends are created inside namespaces: the root namespace
		// never sees them.
		{"ip", "-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", h.port, "netns", n.bridgeNS},
		{"ip", "-n", n.bridgeNS, "link", "set", h.port, "master", "br0", "up"},
		{"ip", "-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Hosts returns the hosts added so far.
func (n *Net) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Host(nil), n.hosts...)
}

// SetLink takes the host's bridge port down (a partition) or up (heal).
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run(context.Background(), "ip", "-n", h.net.bridgeNS, "link", "set", h.port, state)
}

// SetLoss drops pct percent of the frames the host sends (0 removes the
// rule). It uses netem on the host's eth0 where the kernel has it, and
// otherwise an nftables random-drop rule on the host's bridge port. The
// bridge is the wire, so the loss is silent as on a real network: a rule
// in the host's own output hook would instead fail sendto and connect
// with EPERM, which memberlist sees as an error, not as a lost packet.
func (h *Host) SetLoss(pct int) error {
	ctx := context.Background()
	table := "loss_" + h.port
	_ = run(ctx, "ip", "netns", "exec", h.NS, "tc", "qdisc", "del", "dev", "eth0", "root")
	_ = run(ctx, "ip", "netns", "exec", h.net.bridgeNS, "nft", "delete", "table", "bridge", table)
	if pct <= 0 {
		return nil
	}
	if pct > 100 {
		pct = 100
	}
	netem := run(ctx, "ip", "netns", "exec", h.NS, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", fmt.Sprintf("%d%%", pct))
	if netem == nil {
		return nil
	}
	steps := [][]string{
		{"nft", "add", "table", "bridge", table},
		{"nft", "add chain bridge " + table + " wire { type filter hook forward priority 0; }"},
		// numgen gives 0..99; "<= pct-1" drops pct percent (pct 100 drops all).
		{"nft", "add", "rule", "bridge", table, "wire", "iifname", h.port, "numgen", "random", "mod", "100", "<=", strconv.Itoa(pct - 1), "drop"},
	}
	for _, s := range steps {
		if err := run(ctx, append([]string{"ip", "netns", "exec", h.net.bridgeNS}, s...)...); err != nil {
			return fmt.Errorf("loss on %s (netem: %v): %w", h.Name, netem, err)
		}
	}
	return nil
}

// SetGossipLoss drops pct percent of the host's gossip frames (TCP or UDP
// to or from the gossip port) and no others (0 removes the rule): an
// nftables random-drop rule on the host's bridge port, as SetLoss's
// fallback. With it, members are suspected as under SetLoss while the
// data path stays clean, which separates what suspicions cost traffic
// from what lost frames do.
func (h *Host) SetGossipLoss(pct int) error {
	ctx := context.Background()
	table := "gossiploss_" + h.port
	_ = run(ctx, "ip", "netns", "exec", h.net.bridgeNS, "nft", "delete", "table", "bridge", table)
	if pct <= 0 {
		return nil
	}
	pct = min(pct, 100)
	port := strconv.Itoa(GossipPort)
	steps := [][]string{
		{"nft", "add", "table", "bridge", table},
		{"nft", "add chain bridge " + table + " wire { type filter hook forward priority 0; }"},
		// One roll per frame: a UDP gossip frame has the port at both
		// ends, and two rules would each drop pct percent of it.
		{"nft", "add chain bridge " + table + " lossy"},
		{"nft", "add", "rule", "bridge", table, "lossy", "numgen", "random", "mod", "100", "<=", strconv.Itoa(pct - 1), "drop"},
		{"nft", "add", "rule", "bridge", table, "lossy", "accept"},
		{"nft", "add", "rule", "bridge", table, "wire", "iifname", h.port, "meta", "l4proto", "{", "tcp,", "udp", "}", "th", "dport", port, "jump", "lossy"},
		{"nft", "add", "rule", "bridge", table, "wire", "iifname", h.port, "meta", "l4proto", "{", "tcp,", "udp", "}", "th", "sport", port, "jump", "lossy"},
	}
	for _, s := range steps {
		if err := run(ctx, append([]string{"ip", "netns", "exec", h.net.bridgeNS}, s...)...); err != nil {
			return fmt.Errorf("gossip loss on %s: %w", h.Name, err)
		}
	}
	return nil
}

// Close stops every process started in the net, then deletes the host
// namespaces (their veth pairs go with them) and the bridge namespace.
// It is safe to call more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	procs, hosts := n.procs, n.hosts
	n.procs, n.hosts = nil, nil
	n.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	var errs []error
	for _, h := range hosts {
		errs = append(errs, deleteNS(h.NS))
	}
	if n.bridgeNS != "" {
		errs = append(errs, deleteNS(n.bridgeNS))
		n.bridgeNS = ""
	}
	return errors.Join(errs...)
}

// deleteNS kills whatever still runs in ns, then deletes it.
func deleteNS(ns string) error {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := run(context.Background(), "ip", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	return nil
}

// CleanStale removes namespaces left by earlier runs whose test process is
// gone, recognised by NamePrefix and the pid in the name.
func CleanStale() error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], NamePrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], NamePrefix), "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && (pid == os.Getpid() || syscall.Kill(pid, 0) == nil) {
			continue // its owner still runs (this or another test process)
		}
		errs = append(errs, deleteNS(f[0]))
	}
	return errors.Join(errs...)
}

// run executes a short command with a deadline and folds its output into
// the error.
func run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
