package main_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// The agent flags and keys that carry Serf's names, run on the real binary.

// TestAgent_TagsFile: tags set through the API are written to the tags
// file, and a restarted agent starts with them, as Serf's -tags-file.
func TestAgent_TagsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "tags.json")
	a := startAgent(t, "a", nil, "-tags-file", file)
	mustShoal(t, a, "tags", "-set", "role=web", "-set", "zone=eu-1")
	mustShoal(t, a, "tags", "-delete", "zone")
	mustShoal(t, a, "tags", "-set", "v=2")
	var got map[string]string
	b, err := os.ReadFile(file)
	if err == nil {
		err = json.Unmarshal(b, &got)
	}
	if err != nil || len(got) != 2 || got["role"] != "web" || got["v"] != "2" {
		t.Fatalf("tags file: got %q (%v), want role=web and v=2", b, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tags file mode: got %v (%v), want 0600 as Serf writes it", fi.Mode().Perm(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".tags.json.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitExit()

	a2 := startAgent(t, "a", nil, "-tags-file", file)
	if out := mustShoal(t, a2, "tags"); out != "role=web\nv=2\n" {
		t.Errorf("tags after a restart: got %q, want role=web and v=2 from the file", out)
	}
	if out := mustShoal(t, a2, "members"); !strings.Contains(out, "role=web,v=2") {
		t.Errorf("members after a restart: got %q, want the restored tags gossiped", out)
	}

	r := agentMustFail(t, "-tags-file", file, "-tag", "x=y")
	if !strings.Contains(r.stderr, "tags (-tag) and tags_file (-tags-file) exclude each other") {
		t.Errorf("-tags-file with -tag: got %q", r.stderr)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`["not", "a", "map"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := agentMustFail(t, "-tags-file", bad); !strings.Contains(r.stderr, "tags file "+bad) {
		t.Errorf("a tags file that is not a map: got %q, want an error naming it", r.stderr)
	}
}

// TestAgent_SkipLeaveOnInterrupt: with skip_leave_on_interrupt, SIGINT
// exits without leaving, so the others see the node fail, not leave.
func TestAgent_SkipLeaveOnInterrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "skip.hcl")
	if err := os.WriteFile(conf, []byte("skip_leave_on_interrupt = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "a", nil)
	b := startAgent(t, "b", nil, "-config-file", conf, "-join", a.gossip)
	a.waitStatus(map[string]string{"a": "alive", "b": "alive"})
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := b.waitExit(); code != 0 {
		t.Errorf("exit after SIGINT: %d, want 0", code)
	}
	b.waitLog("interrupted, exiting without leaving (skip_leave_on_interrupt)")
	a.waitStatus(map[string]string{"b": "failed"})
}

// TestAgent_HostNames: bind, advertise and join take host names.
func TestAgent_HostNames(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil, "-bind", "localhost:0")
	if host, _, _ := net.SplitHostPort(a.gossip); !net.ParseIP(host).IsLoopback() {
		t.Fatalf("-bind localhost:0: gossip on %s, want a loopback address", a.gossip)
	}
	_, port, _ := net.SplitHostPort(a.gossip)
	b := startAgent(t, "b", nil, "-join", "localhost:"+port, "-advertise", "localhost")
	a.waitStatus(map[string]string{"a": "alive", "b": "alive"})
	b.waitStatus(map[string]string{"a": "alive", "b": "alive"})

	r := agentMustFail(t, "-bind", "no_such host:1")
	if !strings.Contains(r.stderr, "-bind") || !strings.Contains(r.stderr, "not an IP address or a host name") {
		t.Errorf("a malformed bind: got %q", r.stderr)
	}
}

// TestAgent_Iface: -iface picks the bind address from the interface.
func TestAgent_Iface(t *testing.T) {
	t.Parallel()
	lo := testutil.LoopbackInterface(t)
	a := startAgent(t, "a", nil, "-bind", "0.0.0.0:0", "-iface", lo)
	if host, _, _ := net.SplitHostPort(a.gossip); !net.ParseIP(host).IsLoopback() {
		t.Errorf("-iface %s: gossip on %s, want its loopback address", lo, a.gossip)
	}
	r := agentMustFail(t, "-iface", "no-such-if0")
	if !strings.Contains(r.stderr, `interface (-iface): "no-such-if0"`) {
		t.Errorf("an unknown interface: got %q", r.stderr)
	}
}

// TestAgent_RetryMax: -retry-max bounds -retry-join, then the agent exits
// with an error, as Serf's.
func TestAgent_RetryMax(t *testing.T) {
	t.Parallel()
	r := agentMustFail(t, "-retry-join", "127.0.0.1:1", "-retry-max", "2", "-retry-interval", "100ms")
	if !strings.Contains(r.stderr, "gave up after 2 attempts") {
		t.Errorf("got %q, want the agent to give up after 2 attempts", r.stderr)
	}
}

// TestAgent_Replay: an agent that joins with -replay runs its handlers for
// the user events the cluster sent before; without it, it does not.
func TestAgent_Replay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "dump.sh")
	if err := os.WriteFile(script, []byte(dumpScript), 0o755); err != nil {
		t.Fatal(err)
	}
	outReplay, outPlain := filepath.Join(dir, "replay"), filepath.Join(dir, "plain")
	for _, d := range []string{outReplay, outPlain} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := startAgent(t, "a", nil)
	mustShoal(t, a, "event", "before", "old")
	startAgent(t, "r", []string{"OUT_DIR=" + outReplay}, "-join", a.gossip, "-replay", "-event-handler", "user="+script)
	waitDump(t, outReplay, "user", "old\n")

	p := startAgent(t, "p", []string{"OUT_DIR=" + outPlain}, "-join", a.gossip, "-event-handler", "user="+script)
	p.waitStatus(map[string]string{"a": "alive", "p": "alive"})
	// A sentinel: once the later event has run, the earlier one would have.
	mustShoal(t, a, "event", "after", "new")
	waitDump(t, outPlain, "user", "new\n")
	for _, d := range dumps(outPlain, "user") {
		if d.stdin == "old\n" {
			t.Errorf("the agent that joined without -replay ran its handler for an earlier event: %+v", d)
		}
	}
}

// TestAgent_DiscoverMDNS: two agents with -discover find and join each
// other with mDNS. Multicast must stay on loopback, so the test runs
// itself again in a private network namespace (unshare -n, as root) whose
// loopback carries multicast; elsewhere it is skipped.
func TestAgent_DiscoverMDNS(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		runInPrivateNetns(t, "TestAgent_DiscoverMDNS")
		return
	}
	key := gossipKey(t)
	a := startAgent(t, "a", nil, "-encrypt", key, "-discover", "e2e", "-iface", "lo")
	b := startAgent(t, "b", nil, "-encrypt", key, "-discover", "e2e", "-iface", "lo")
	a.waitStatus(map[string]string{"a": "alive", "b": "alive"})
	b.waitStatus(map[string]string{"a": "alive", "b": "alive"})
	b.waitLog("discover: joined")
}

const netnsEnv = "SHOAL_E2E_IN_NETNS"

// runInPrivateNetns runs test name of this test binary in a new network
// namespace whose loopback is up and routes multicast.
func runInPrivateNetns(t *testing.T, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private network namespace")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s for a private network namespace", tool)
		}
	}
	setup := `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"`
	cmd := exec.Command("unshare", "-n", "sh", "-c", setup, os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.timeout", "300s")
	cmd.Env = append(os.Environ(), netnsEnv+"=1", e2eBinEnv+"="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s in a private network namespace: %v\n%s", name, err, out)
	}
	t.Logf("in a private network namespace:\n%s", out)
}

// TestAgent_LongNodeName: node names go up to Serf's 128 bytes; one with
// a label over DNS's 63 is a member like any other, DNS does not answer
// for it, and the agent says so at start.
func TestAgent_LongNodeName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 128)
	a := startAgent(t, long, nil)
	a.waitLog("the node name has a part longer than 63 bytes, the DNS label limit: DNS will not answer for this node or its services; use dots to split it, or a shorter name")
	if out := mustShoal(t, a, "members"); !strings.HasPrefix(out, long+"  ") {
		t.Errorf("members: got %q, want the 128-byte name", out)
	}
	split := strings.Repeat("n", 60) + "." + strings.Repeat("m", 60)
	b := startAgent(t, split, nil, "-join", a.gossip)
	b.waitStatus(map[string]string{long: "alive", split: "alive"})
	if _, ok := b.findLog(func(r map[string]any) bool { return strings.Contains(r["msg"].(string), "longer than 63 bytes") }); ok {
		t.Errorf("a 121-byte name of two 60-byte labels was warned about; it fits DNS")
	}
	if r := agentMustFail(t, "-node", strings.Repeat("n", 129)); !strings.Contains(r.stderr, "must be 1-128") {
		t.Errorf("a 129-byte name: got %q, want it refused naming the limit", r.stderr)
	}
}
