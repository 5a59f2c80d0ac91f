package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples_ConfigsValidate loads every file of examples/config with
// shoal validate: the config must load, and each template must render
// against the sample cluster and pass the real haproxy -c or nginx -t.
// nginx -t opens the pid file the template names (/run/nginx.pid in the
// example), creating it empty if it is missing, as it does for any user.
func TestExamples_ConfigsValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "config", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("examples/config is empty")
	}
	backends := map[string]bool{}
	for _, f := range files {
		// builtin:nginx is a whole nginx.conf: in conf.d/ it would sit
		// inside nginx's http block and break it.
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "builtin:nginx") && strings.Contains(string(b), "conf.d") {
			t.Errorf("%s: renders builtin:nginx (a complete nginx.conf) into conf.d/", f)
		}
		r := shoal(t, nil, "validate", "-config-file", f)
		if r.code != 0 {
			t.Errorf("%s: shoal validate exit %d\nstdout:\n%s\nstderr:\n%s", f, r.code, r.stdout, r.stderr)
			continue
		}
		for _, kind := range []string{"haproxy", "nginx"} {
			if strings.Contains(r.stdout, ": ok ("+kind+",") {
				backends[kind] = true
			}
		}
	}
	// The examples are how a user starts with either load balancer; both
	// must stay covered.
	for _, kind := range []string{"haproxy", "nginx"} {
		if !backends[kind] {
			t.Errorf("no example in examples/config renders a template validated by %s", kind)
		}
	}
}
