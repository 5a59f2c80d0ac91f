package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_BuiltinTemplates checks both built-in templates with the
// real haproxy and nginx, in-process, and that nothing is written to the
// destinations.
func TestValidate_BuiltinTemplates(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lb.hcl")
	writeFile(t, cfg, `node_name = "lb"
bind = "127.0.0.1:7946"
encrypt = "bMiLCV5Hm8H8cWI6WrV/CmhvSFxJkxGYhzjqGwwQ+js="
service {
  name = "api"
  port = 9000
}
template {
  source        = "builtin:haproxy"
  destination   = "`+dir+`/haproxy/haproxy.cfg"
  master_socket = "`+dir+`/master.sock"
  vars          = { "listen.web" = "8081" }
}
template {
  name        = "edge-nginx"
  source      = "builtin:nginx"
  destination = "`+dir+`/nginx/nginx.conf"
  pid_file    = "`+dir+`/nginx.pid"
  vars        = { pid = "`+dir+`/nginx.pid" }
}
`)
	code, out, errOut := run("validate", "-config-file", cfg)
	if code != exitOK {
		t.Fatalf("shoal validate: got exit %d, stdout %q, stderr %q; want 0", code, out, errOut)
	}
	// The sample cluster's "web" and this node's "api": two services, on
	// two sample members each, plus this node's own api.
	for _, want := range []string{"config: ok (node lb, 1 services, 2 templates)", "haproxy.cfg: ok (haproxy, 5 backends", "template edge-nginx: ok (nginx, 5 backends"} {
		if !strings.Contains(out, want) {
			t.Errorf("shoal validate: stdout %q lacks %q", out, want)
		}
	}
	for _, sub := range []string{"haproxy", "nginx"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); !os.IsNotExist(err) {
			t.Errorf("validate created the destination directory %s: %v", sub, err)
		}
	}
}

// TestValidate_RenderError: a template that cannot render (two services
// given the same frontend port) fails with the template's name and why.
func TestValidate_RenderError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lb.hcl")
	writeFile(t, cfg, `node_name = "lb"
insecure_gossip = true
service {
  name = "api"
  port = 9000
}
template {
  name          = "edge"
  source        = "builtin:haproxy"
  destination   = "`+dir+`/haproxy.cfg"
  master_socket = "`+dir+`/master.sock"
  vars          = { "listen.web" = "8081", "listen.api" = "8081" }
}
`)
	code, _, errOut := run("validate", "-config-file", cfg)
	if code != exitFail || !strings.HasPrefix(errOut, "shoal validate: template edge: render: ") || !strings.Contains(errOut, "8081") {
		t.Fatalf("shoal validate: got exit %d, stderr %q; want 1 naming template edge, the render and port 8081", code, errOut)
	}
}

// TestValidate_GossipKey: templates on gossip without a key fail
// validation, as they fail the agent's start, and say how to fix it.
func TestValidate_GossipKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lb.hcl")
	writeFile(t, cfg, `node_name = "lb"
template {
  source        = "builtin:haproxy"
  destination   = "`+dir+`/haproxy.cfg"
  master_socket = "`+dir+`/master.sock"
}
`)
	code, out, errOut := run("validate", "-config-file", cfg)
	if code != exitFail || !strings.HasPrefix(errOut, "shoal validate: this agent renders templates") || !strings.Contains(errOut, "insecure_gossip") {
		t.Fatalf("shoal validate without a gossip key: got exit %d, stdout %q, stderr %q; want 1 naming the missing key and insecure_gossip", code, out, errOut)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
