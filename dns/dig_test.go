package dns

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// dig runs the real dig against addr and returns its +short lines, sorted.
func dig(t *testing.T, addr string, args ...string) []string {
	t.Helper()
	path, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils); skipping the dig test")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"@" + host, "-p", port, "+short", "+tries=3", "+time=5"}, args...)
	out, err := exec.CommandContext(ctx, path, argv...).Output()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	slices.Sort(lines)
	return lines
}

func TestServer_Dig(t *testing.T) {
	srv := startServer(t, testConfig(), newView(testSnapshot()))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"alpha.node.shoal", "A"}, []string{"10.0.0.1"}},
		{[]string{"alpha.node.shoal", "TXT"}, []string{`"dc=x" "role=web"`}},
		{[]string{"web.service.shoal", "SRV"}, []string{
			"1 1 8080 gamma.node.shoal.", "1 10 8080 alpha.node.shoal.", "1 5 8081 beta.node.shoal."}},
		{[]string{"+tcp", "_web._v1.service.shoal", "SRV"}, []string{"1 5 8081 beta.node.shoal."}},
		{[]string{"-x", "10.0.0.2"}, []string{"beta.node.shoal."}},
	} {
		if got := dig(t, srv.Addr(), tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("dig %s: got %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// TestServer_DigRetriesOverTCP checks the whole TC path with a real
// resolver client: dig gets a truncated UDP answer and retries over TCP.
func TestServer_DigRetriesOverTCP(t *testing.T) {
	srv := startServer(t, testConfig(), newView(bigSnapshot(50)))
	got := dig(t, srv.Addr(), "+noedns", "big.service.shoal", "SRV")
	if len(got) != 50 {
		t.Errorf("dig after TC: got %d SRV records, want 50", len(got))
	}
}
