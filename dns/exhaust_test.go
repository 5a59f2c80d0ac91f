//go:build linux

package dns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// The file-descriptor exhaustion test (Linux: it reads /proc) runs a DNS server in a child process,
// this test binary run again with SHOAL_DNS_HELPER=1, so that lowering its
// RLIMIT_NOFILE and using up its descriptors leaves the tests alone.
const (
	helperEnv   = "SHOAL_DNS_HELPER"
	helperFiles = "SHOAL_DNS_HELPER_NOFILE"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain serves DNS with the open-file limit helperFiles names,
// prints "addr=<host:port>" and serves until its standard input closes.
// Read and idle timeouts are long and the TCP cap high, so the held
// connections exhaust descriptors rather than meet a limit of the server.
func helperMain() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := strconv.ParseUint(os.Getenv(helperFiles), 10, 64)
	if err != nil {
		logger.Error("helper: bad "+helperFiles, "err", err)
		return 2
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Error("helper: getrlimit", "err", err)
		return 2
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Error("helper: setrlimit", "err", err)
		return 2
	}
	cfg := testConfig()
	cfg.ReadTimeout, cfg.IdleTimeout = time.Minute, IdleTimeoutRange.Max
	cfg.TCPMaxConns = TCPMaxConnsRange.Max
	srv, err := New(cfg, newView(testSnapshot()), logger)
	if err != nil {
		logger.Error("helper: new", "err", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Started():
	case err := <-done:
		logger.Error("helper: run", "err", err)
		return 1
	}
	fmt.Printf("addr=%s\n", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		logger.Error("helper: run", "err", err)
		return 1
	}
	return 0
}

// cpuTime returns the user plus system CPU time process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	// Fields 14 and 15 (utime, stime) are 11 and 12 after the name, in
	// clock ticks, which Linux exports as 100 per second.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

func openFilesOf(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}

// TestServer_FileDescriptorExhaustion runs the server with 64 descriptors
// and holds 300 TCP connections to it. Out of descriptors, the server must
// back off rather than spin on accept: over a window of UDP queries, which
// it keeps answering, its CPU time stays well under a core. After the
// connections close it answers new TCP queries again.
// startHelper runs helperMain in a child process with the open-file limit
// limit, and returns its DNS address and process ID. The child exits when
// the test ends; its log is shown if the test failed.
func startHelper(t *testing.T, limit int) (addr string, pid int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", fmt.Sprintf("%s=%d", helperFiles, limit))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, readErr := bufio.NewReader(stdout).ReadString('\n')
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("helper: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("helper did not exit 30s after its input closed")
		}
		if t.Failed() {
			t.Logf("helper's log:\n%s", stderr.String())
		}
	})
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr=")
	if readErr != nil || !ok {
		t.Fatalf("helper printed %q (%v), want addr=<host:port>", line, readErr)
	}
	return addr, cmd.Process.Pid
}

func TestServer_FileDescriptorExhaustion(t *testing.T) {
	const limit, held = 64, 300
	addr, pid := startHelper(t, limit)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range held {
		c, err := net.Dial("tcp", addr) // the kernel completes it; the helper may never accept it
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		n, err := openFilesOf(pid)
		if err != nil || n < limit-1 {
			return fmt.Errorf("helper has %d open files (%v), want %d: out of descriptors", n, err, limit)
		}
		return nil
	})

	// The window: two seconds of UDP queries, all answered, at a pace that
	// leaves the helper's CPU time to its accept loop.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	cpu0, wall0 := cpuTime(t, pid), time.Now()
	for queries := 0; time.Since(wall0) < 2*time.Second || queries < 10; queries++ {
		<-tick.C
		if got, err := askWithRetries(addr, query("alpha.node.shoal.", mdns.TypeA, 0)); err != nil || len(got.Answer) != 1 {
			t.Fatalf("UDP query %d out of descriptors: got %v, %v; want 1 answer", queries, got, err)
		}
	}
	cpu, wall := cpuTime(t, pid)-cpu0, time.Since(wall0)
	t.Logf("out of descriptors: %s of CPU in %s", cpu, wall.Round(time.Millisecond))
	if cpu > wall/4 {
		t.Errorf("helper used %s of CPU in %s out of descriptors, want well under a core: accept spins", cpu, wall)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	testutil.WaitFor(t, 60*time.Second, func() error {
		c := &mdns.Client{Net: "tcp", Timeout: 2 * time.Second}
		got, _, err := c.Exchange(query("alpha.node.shoal.", mdns.TypeA, 0), addr)
		if err != nil || len(got.Answer) != 1 {
			return fmt.Errorf("TCP after the connections closed: got %v, %v; want 1 answer", got, err)
		}
		return nil
	})
	if got, err := askWithRetries(addr, query("web.service.shoal.", mdns.TypeSRV, 0)); err != nil || len(got.Answer) != 3 {
		t.Errorf("UDP after the connections closed: got %v, %v; want 3 answers", got, err)
	}
}
