package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/render"
)

// emptySource is a cluster with no members that never changes.
type emptySource struct{}

func (emptySource) Snapshot() *node.Snapshot         { return &node.Snapshot{} }
func (emptySource) Watch() (<-chan struct{}, func()) { return nil, func() {} }

func testRenderer() *renderer {
	return &renderer{
		log:       slog.New(slog.DiscardHandler),
		source:    emptySource{},
		onInstall: func(render.Installed) {},
		swap:      make(chan struct{}, 1),
		carried:   map[string]render.TemplateStatus{},
		carriedRT: map[string]backends.RuntimeStats{},
	}
}

// haproxyTemplates is an agent config with an haproxy template named edge
// (extra goes into its block) and an nginx template named web.
func haproxyTemplates(dir, extra string) string {
	return fmt.Sprintf(`
template {
  name          = "edge"
  source        = "builtin:haproxy"
  destination   = %q
  master_socket = %q
  %s
}
template {
  name        = "web"
  source      = "builtin:nginx"
  destination = %q
  pid_file    = %q
}
`, filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "master.sock"), extra,
		filepath.Join(dir, "nginx.conf"), filepath.Join(dir, "nginx.pid"))
}

// A SIGHUP that leaves a template's haproxy options alone keeps its
// backend, with the servers it drains and its counters; one that changes
// them builds a new backend, and the template's runtime counters carry
// over, as its render counters do. Only haproxy templates report runtime
// counters, in the API and in metrics.
func TestRenderer_ReloadKeepsHAProxyState(t *testing.T) {
	dir := t.TempDir()
	r := testRenderer()
	first := loadConfig(t, haproxyTemplates(dir, "no_runtime = true"))
	run, lbs, err := r.build(first.Templates, false)
	if err != nil {
		t.Fatal(err)
	}
	r.tmpls, r.runner, r.lbs = first.Templates, run, lbs
	edge, ok := lbs.byName["edge"].(*backends.HAProxy)
	if !ok {
		t.Fatalf("edge's backend: got %T, want *backends.HAProxy", lbs.byName["edge"])
	}
	// A change the runtime path declines counts a fallback.
	var fe *backends.FallbackError
	if _, err := edge.Apply(context.Background(), nil, nil, backends.ApplyHints{}); !errors.As(err, &fe) || fe.Reason != backends.FallbackDisabled {
		t.Fatalf("Apply with no_runtime: got %v, want a %q fallback", err, backends.FallbackDisabled)
	}

	// Only the nginx template changes: edge keeps its backend.
	same := loadConfig(t, strings.Replace(haproxyTemplates(dir, "no_runtime = true"), `"web"`, `"www"`, 1))
	if err := r.Reload(same); err != nil {
		t.Fatal(err)
	}
	if got := r.nextLBs.byName["edge"]; got != backends.Backend(edge) {
		t.Fatalf("after a reload that kept edge's options: got backend %p, want the running %p", got, edge)
	}
	r.swapNext(run)

	// edge's options change: a new backend, the counters carry over.
	changed := loadConfig(t, strings.Replace(haproxyTemplates(dir, `drain_timeout = "5s"`), `"web"`, `"www"`, 1))
	if err := r.Reload(changed); err != nil {
		t.Fatal(err)
	}
	if got := r.nextLBs.byName["edge"]; got == backends.Backend(edge) || got == nil {
		t.Fatalf("after a reload that changed edge's options: got backend %p, want a new one", got)
	}
	r.swapNext(r.runner)
	tot := r.totals()
	if len(tot) != 2 || tot[0].Name != "edge" || tot[1].Name != "www" {
		t.Fatalf("totals: got %+v, want edge and www", tot)
	}
	rt := tot[0].Runtime
	if rt == nil || rt.Fallbacks != 1 || rt.FallbackReasons[backends.FallbackDisabled] != 1 || !strings.Contains(rt.LastFallback, "no_runtime") {
		t.Fatalf("edge's runtime counters after its backend was replaced: got %+v, want the old backend's fallback", rt)
	}
	if tot[1].Runtime != nil {
		t.Errorf("nginx template: got runtime counters %+v, want none", tot[1].Runtime)
	}
	if st := statusAPI(tot); st[0].Runtime == nil || st[0].Runtime.FallbackReasons[backends.FallbackDisabled] != 1 || st[1].Runtime != nil {
		t.Errorf("API status: got edge runtime %+v, www runtime %+v; want edge's fallback, none for www", st[0].Runtime, st[1].Runtime)
	}

	got := gather(t, r)
	for _, reason := range fallbackReasons {
		n := 0
		if reason == backends.FallbackDisabled {
			n = 1
		}
		series := fmt.Sprintf(`shoal_haproxy_runtime_fallbacks_total{reason=%q,template="edge"}`, reason)
		if got[series] != float64(n) {
			t.Errorf("%s: got %v, want %d", series, got[series], n)
		}
	}
	for _, series := range []string{`shoal_haproxy_draining_servers{template="edge"}`, `shoal_render_applied_total{template="edge"}`, `shoal_render_applied_total{template="www"}`} {
		if _, ok := got[series]; !ok {
			t.Errorf("metrics: %s missing", series)
		}
	}
	if _, ok := got[`shoal_haproxy_ghost_servers{template="www"}`]; ok {
		t.Error("metrics: the nginx template has a ghost_servers series")
	}
}

// gather scrapes the render collector into "name{labels}" -> value.
func gather(t *testing.T, r *renderer) map[string]float64 {
	t.Helper()
	reg := metrics.NewRegistry()
	reg.Register(newRenderCollector(r.totals))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metrics {
			var lbl []string
			for _, l := range m.Labels {
				lbl = append(lbl, fmt.Sprintf("%s=%q", l.Name, l.Value))
			}
			out[f.Name+"{"+strings.Join(lbl, ",")+"}"] = m.Value
		}
	}
	return out
}

// Two templates that drive one HAProxy show its counters in the API each,
// but export them once, under the first one's name, so sums stay right.
func TestRenderer_SharedHAProxyExportedOnce(t *testing.T) {
	dir := t.TempDir()
	body := fmt.Sprintf(`
template {
  name          = "a"
  source        = "builtin:haproxy"
  destination   = %q
  master_socket = %q
}
template {
  name          = "b"
  source        = "builtin:haproxy"
  destination   = %q
  master_socket = %q
}
`, filepath.Join(dir, "a.cfg"), filepath.Join(dir, "m.sock"), filepath.Join(dir, "b.cfg"), filepath.Join(dir, "m.sock"))
	r := testRenderer()
	cfg := loadConfig(t, body)
	run, lbs, err := r.build(cfg.Templates, false)
	if err != nil {
		t.Fatal(err)
	}
	r.runner, r.lbs = run, lbs
	if lbs.byName["a"] != lbs.byName["b"] {
		t.Fatal("templates with the same haproxy options got different backends")
	}
	st := statusAPI(r.totals())
	if len(st) != 2 || st[0].Runtime == nil || st[1].Runtime == nil {
		t.Fatalf("API: got %+v, want runtime counters on both templates", st)
	}
	got := gather(t, r)
	_, a := got[`shoal_haproxy_runtime_commands_total{template="a"}`]
	_, b := got[`shoal_haproxy_runtime_commands_total{template="b"}`]
	if !a || b {
		t.Errorf("shoal_haproxy_runtime_commands_total: got series for a %v, for b %v; want a only", a, b)
	}
}

// A reload that fails leaves the installed file not live: /v1/render
// (statusAPI) says "installed, reload failed" and the reload_pending
// gauge is 1 until a reload takes. renderNow returns once the runner has
// done the forced render, so its status is already the new one.
func TestRenderer_FailedReloadShownInAPIAndMetrics(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed")
	}
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cfg := loadConfig(t, fmt.Sprintf(`
template {
  name        = "edge"
  source      = "builtin:haproxy"
  destination = %q
  backend     = "command"
  check       = ["haproxy", "-c", "-f", "{{path}}"]
  reload      = ["sh", "-c", "test -e %s || { echo gate closed >&2; exit 1; }"]
  timeout     = "60s"
}
`, filepath.Join(dir, "haproxy.cfg"), gate))
	r := testRenderer()
	run, lbs, err := r.build(cfg.Templates, false)
	if err != nil {
		t.Fatal(err)
	}
	r.tmpls, r.runner, r.lbs = cfg.Templates, run, lbs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	st, err := r.renderNow(ctx, "edge")
	if err != nil {
		t.Fatal(err)
	}
	api := statusAPI(r.totals())
	if len(st) != 1 || api[0].State != render.StateReloadFailed || !api[0].ReloadPending || api[0].OK ||
		!strings.Contains(api[0].Error, "gate closed") || api[0].NextReloadRetry.IsZero() {
		t.Fatalf("after a failed reload: got %+v, want state %q, pending, with the reload's message", api[0], render.StateReloadFailed)
	}
	if got := gather(t, r)[`shoal_render_reload_pending{template="edge"}`]; got != 1 {
		t.Errorf("shoal_render_reload_pending: got %v, want 1", got)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.renderNow(ctx, ""); err != nil {
		t.Fatal(err)
	}
	api = statusAPI(r.totals())
	if api[0].State != render.StateOK || api[0].ReloadPending || !api[0].OK || api[0].Reloads == 0 {
		t.Fatalf("after the reload took: got %+v, want state ok", api[0])
	}
	if got := gather(t, r)[`shoal_render_reload_pending{template="edge"}`]; got != 0 {
		t.Errorf("shoal_render_reload_pending: got %v, want 0", got)
	}
}
