//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/procgroup"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// readmeBlocks returns the fenced blocks of README.md that follow a
// "<!-- readme-test: KIND ... -->" line, so the tests run what a user
// copies and the README cannot drift from what works.
func readmeBlocks(t *testing.T, kind string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	marked, in := false, false
	var cur strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case in && strings.HasPrefix(line, "```"):
			blocks = append(blocks, cur.String())
			cur.Reset()
			in = false
		case in:
			cur.WriteString(line + "\n")
		case marked && strings.HasPrefix(line, "```"):
			in, marked = true, false
		case strings.HasPrefix(line, "<!-- readme-test: "+kind+" "), line == "<!-- readme-test: "+kind+" -->":
			marked = true
		case marked && strings.TrimSpace(line) != "":
			t.Fatalf("README.md: a readme-test: %s marker is not followed by a fenced block but by %q", kind, line)
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md has no block marked readme-test: %s", kind)
	}
	return blocks
}

// TestREADME_ConfigExamplesValidate loads every config example of the
// README with shoal validate: the config must load, and each template must
// render and pass the real haproxy -c / nginx -t.
func TestREADME_ConfigExamplesValidate(t *testing.T) {
	for i, block := range readmeBlocks(t, "config") {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("readme-%d.hcl", i+1))
		write(t, path, block)
		r := shoal(t, nil, "validate", "-config-file", path)
		if r.code != 0 {
			t.Errorf("README config example %d: shoal validate exit %d\nstdout:\n%s\nstderr:\n%s\nblock:\n%s", i+1, r.code, r.stdout, r.stderr, block)
		}
	}
}

// loopbackAddr matches the fixed addresses of the README's cluster block.
var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// TestREADME_ThreeNodeCluster runs the README's 3-node block with bash, as
// a user pastes it, with two changes so it can run next to other tests:
// `go build -o shoal ./cmd/shoal` copies the binary this test built, and
// every fixed 127.0.0.1 port (7946-7948, 7373-7375, 8600-8602) becomes a
// free ephemeral one, the same one at every mention. The block's bare
// `./shoal members` asks the default address, n1's 7373, so
// SHOAL_HTTP_ADDR points at n1's new port. Every command must succeed
// (bash -e), and the cluster must have formed: n1 sees n2 alive and n3,
// which the block makes leave, left.
func TestREADME_ThreeNodeCluster(t *testing.T) {
	blocks := readmeBlocks(t, "cluster")
	if len(blocks) != 1 {
		t.Fatalf("README.md: got %d cluster blocks, want 1", len(blocks))
	}
	script, ports := rewritePorts(t, blocks[0])
	build := "go build -o shoal ./cmd/shoal"
	if !strings.Contains(script, build) {
		t.Fatalf("README cluster block no longer builds with %q; update this test", build)
	}
	script = strings.Replace(script, build, `cp "$SHOAL_TEST_BIN" shoal`, 1)
	n1HTTP, ok := ports["7373"]
	if !ok {
		t.Fatalf("README cluster block names no 127.0.0.1:7373 (n1's API)")
	}

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SHOAL_TEST_BIN="+bin, "SHOAL_HTTP_ADDR=127.0.0.1:"+n1HTTP)
	// Its own process group: the agents it starts in the background
	// outlive bash and are killed with the group.
	procgroup.Isolate(cmd)
	// A file, not a pipe: the background agents keep their stdout open
	// after bash exits, and Wait would wait for a pipe to close.
	outPath := filepath.Join(dir, "output")
	outf, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	cmd.Stdout, cmd.Stderr = outf, outf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = procgroup.Kill(cmd) })
	err = cmd.Wait()
	b, _ := os.ReadFile(outPath)
	out := string(b)
	if err != nil {
		t.Fatalf("README cluster block failed (%v):\n%s\nscript:\n%s", err, out, script)
	}
	n1 := &agentProc{t: t, name: "n1", http: "127.0.0.1:" + n1HTTP}
	n1.waitStatus(map[string]string{"n1": "alive", "n2": "alive", "n3": "left"})
	for _, want := range []string{"Event 'deploy' dispatched", "Total Acks:", "Graceful leave complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("README cluster block output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("README cluster block output:\n%s", out)
}

// rewritePorts replaces every 127.0.0.1:PORT of script with a free port,
// the same for every mention of PORT, and returns the map old -> new.
func rewritePorts(t *testing.T, script string) (string, map[string]string) {
	t.Helper()
	ports := map[string]string{}
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	for _, m := range loopbackAddr.FindAllStringSubmatch(script, -1) {
		if _, ok := ports[m[1]]; ok {
			continue
		}
		port, release := freePort(t)
		held = append(held, release)
		ports[m[1]] = port
	}
	script = loopbackAddr.ReplaceAllStringFunc(script, func(s string) string {
		return "127.0.0.1:" + ports[loopbackAddr.FindStringSubmatch(s)[1]]
	})
	return script, ports
}

// freePort finds a loopback port free for both TCP and UDP (gossip and
// DNS use both) and holds it until release, so no two picks are the same.
func freePort(t *testing.T) (string, func()) {
	t.Helper()
	var port string
	var release func()
	testutil.WaitFor(t, wait, func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		u, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		if err != nil {
			l.Close()
			return fmt.Errorf("udp port %s: %w", port, err)
		}
		release = func() { l.Close(); u.Close() }
		return nil
	})
	return port, release
}
