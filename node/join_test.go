package node

import (
	"net"
	"strings"
	"testing"
)

// A join that reaches no one fails on one line that names each address
// once with its reason, not memberlist's multi-line list under a repeated
// prefix.
func TestJoin_FailureIsOneLine(t *testing.T) {
	n := startNode(t, testConfig("lonely"))
	var closed []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed = append(closed, ln.Addr().String())
		ln.Close()
	}
	joined, err := n.Join(closed, false)
	if joined != 0 || err == nil {
		t.Fatalf("join of closed ports: %d joined, err %v; want 0 and an error", joined, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("join error spans lines: %q", msg)
	}
	if strings.Count(msg, "join [") != 1 {
		t.Errorf("join error repeats its prefix: %q", msg)
	}
	for _, addr := range closed {
		if !strings.Contains(msg, "failed to join "+addr) {
			t.Errorf("join error %q does not give %s's reason", msg, addr)
		}
	}
}
