package handlers

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/node"
)

// healthEvent is member name's health event: the member's node-level
// health, its instances (id=health) and which of them changed.
func healthEvent(name string, nodeHealth node.Health, services map[string]node.Health, changed ...string) *node.HealthEvent {
	e := &node.HealthEvent{Member: member(name)}
	e.Member.Health = nodeHealth
	for id, h := range services {
		e.Member.Services = append(e.Member.Services, node.Service{ID: id, Name: "web", Health: h})
	}
	for _, id := range changed {
		e.Changed = append(e.Changed, node.Service{ID: id, Name: "web", Health: services[id]})
	}
	return e
}

func TestStdin_Health(t *testing.T) {
	b := &HealthBatch{Events: []*node.HealthEvent{
		healthEvent("a", node.HealthPassing, map[string]node.Health{"web-1": node.HealthCritical, "web-2": node.HealthWarning}, "web-1", "web-2"),
		healthEvent("b\tx", node.HealthMaintenance, map[string]node.Health{"web": node.HealthMaintenance}, "web"),
	}}
	want := "a\t*\t*\tpassing\na\tweb-1\tweb\tcritical\na\tweb-2\tweb\twarning\n" +
		"b\\tx\t*\t*\tmaintenance\nb\\tx\tweb\tweb\tmaintenance\n"
	if got := string(Stdin(b)); got != want {
		t.Errorf("health stdin:\ngot  %q\nwant %q", got, want)
	}
	if got := Env(Self{Name: "n"}, b)[0]; got != "SERF_EVENT=health" {
		t.Errorf("health env: got %q first, want SERF_EVENT=health", got)
	}
}

// TestHealthBatch: the newest health per instance in a batch, instances
// back where they were last sent left out, members with nothing new left
// out, and a reaped member starts afresh.
func TestHealthBatch(t *testing.T) {
	crit, pass, warn := node.HealthCritical, node.HealthPassing, node.HealthWarning
	b := newHealthBatch(debounce.Window{Min: time.Second, Max: 3 * time.Second})
	now := time.Unix(0, 0)
	// A flap within one batch: one line, the newest health.
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": crit, "w2": pass}, "w1"))
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": pass, "w2": pass}, "w1"))
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": warn, "w2": crit}, "w1", "w2"))
	if got, want := string(healthStdin(b.flush().Events)), "a\t*\t*\tpassing\na\tw1\tweb\twarning\na\tw2\tweb\tcritical\n"; got != want {
		t.Errorf("first batch:\ngot  %q\nwant %q", got, want)
	}
	// Flapping back to what was sent: nothing to run.
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": crit, "w2": crit}, "w1"))
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": warn, "w2": crit}, "w1"))
	if got := b.flush(); got != nil {
		t.Errorf("flap back to the sent state: got %q, want no run", healthStdin(got.Events))
	}
	// The node's own health alone is news.
	b.add(now, healthEvent("a", crit, map[string]node.Health{"w1": warn, "w2": crit}))
	if got, want := string(healthStdin(b.flush().Events)), "a\t*\t*\tcritical\n"; got != want {
		t.Errorf("node health batch:\ngot  %q\nwant %q", got, want)
	}
	// Reaped, then back under the same name with critical instances.
	b.forget("a")
	b.add(now, healthEvent("a", pass, map[string]node.Health{"w1": warn}, "w1"))
	if got, want := string(healthStdin(b.flush().Events)), "a\t*\t*\tpassing\na\tw1\tweb\twarning\n"; got != want {
		t.Errorf("after reap:\ngot  %q\nwant %q", got, want)
	}
}

// TestRunner_BatchesHealthEvents: health events of two members within
// the quiescent period run a "health" script once; with batching off
// each runs at once.
func TestRunner_BatchesHealthEvents(t *testing.T) {
	r, clk, out := batchingRunner(t)
	r.Handle(healthEvent("b", node.HealthPassing, map[string]node.Health{"web": node.HealthCritical}, "web"))
	clk.Advance(500 * time.Millisecond)
	r.Handle(healthEvent("a", node.HealthCritical, nil))
	r.Handle(healthEvent("b", node.HealthPassing, map[string]node.Health{"web": node.HealthWarning}, "web"))
	r.coal.waitIdle()
	clk.Advance(time.Second)
	r.coal.waitIdle()
	waitFile(t, out, "a\t*\t*\tcritical\nb\t*\t*\tpassing\nb\tweb\tweb\twarning\n--health\n")

	off := NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Timeout: 10 * time.Second})
	defer off.Close()
	s2, out2 := recordScript(t)
	off.SetScripts([]Script{s2})
	off.Handle(healthEvent("a", node.HealthPassing, map[string]node.Health{"web": node.HealthCritical}, "web"))
	waitFile(t, out2, "a\t*\t*\tpassing\na\tweb\tweb\tcritical\n--health\n")
}
