package render

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

func startTestNode(t *testing.T, name string, services ...node.Service) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Profile = "local"
	cfg.LeaveTimeout = 5 * time.Second
	cfg.Services = services
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatalf("new node %s: %v", name, err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("start node %s: %v", name, err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}

// The runner driven by a real gossip node: a join renders the new backend,
// a graceful leave removes it.
func TestRunner_WithRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gossip nodes")
	}
	lb := startTestNode(t, "lb")
	web := startTestNode(t, "web1", node.Service{Name: "web", Port: 8080, Weight: 3})
	dest := filepath.Join(t.TempDir(), "haproxy.cfg")
	be := &recBackend{}
	r, err := New(Config{
		Source:    lb,
		Templates: []TemplateConfig{{Name: "lb", Source: "builtin:haproxy", Destination: dest, Backend: be, Wait: Wait{Min: 50 * time.Millisecond, Max: time.Second}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)

	ip, port := lb.LocalAddr()
	if _, err := web.Join([]string{net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))}, false); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if got := readFile(t, dest); !strings.Contains(got, "server web1 127.0.0.1:8080 weight 3 check") {
			return fmt.Errorf("web1 not rendered yet; file:\n%s", got)
		}
		return nil
	})
	if err := web.Leave(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if got := readFile(t, dest); strings.Contains(got, "web1") {
			return errors.New("web1 still rendered after it left")
		}
		return nil
	})
	if st := statusOf(t, r, "lb"); !st.OK || st.Installs < 2 || st.Reloads < 2 {
		t.Errorf("status: got %+v, want ok with at least 2 installs and reloads", st)
	}
}
