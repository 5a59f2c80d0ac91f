package render

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/internal/debounce/debouncetest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

// builtinCluster has two services, weights, tags, a failed member (left
// out) and an IPv6 member, so the golden files cover each template path.
func builtinCluster() *node.Snapshot {
	s := webCluster()
	v6 := member("web5", 15, svc("web", 8081, 300, "v2"))
	v6.Addr = []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}
	return snapshot("lb1", 1, append(s.Members, v6)...)
}

func renderBuiltin(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	tmpl, err := ParseTemplate(BuiltinPrefix + name)
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(builtinCluster())
	d.Vars = vars
	out, n, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("backends: got %d, want 4 (web1, web2, web5, api on web2)", n)
	}
	return out
}

// validate runs the real load balancer's check on the rendered file. These
// tests prove the built-in templates; the pipeline tests use a recorder.
func validate(t *testing.T, name string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (run .ci/setup): cannot validate the built-in template", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func TestBuiltin_HAProxy(t *testing.T) {
	out := renderBuiltin(t, "haproxy", map[string]string{})
	golden(t, "haproxy.cfg", out)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, string(out))
	validate(t, "haproxy", "-c", "-q", "-f", path)

	withStats := renderBuiltin(t, "haproxy", map[string]string{"stats_port": "8404", "bind": "127.0.0.1", "mode": "http", "listen.web": "80"})
	golden(t, "haproxy-vars.cfg", withStats)
	writeFile(t, path, string(withStats))
	validate(t, "haproxy", "-c", "-q", "-f", path)
}

// The server state file is the node's by default, can be moved, and
// "none" leaves both of its lines out.
func TestBuiltin_HAProxyServerStateFile(t *testing.T) {
	for _, tc := range []struct {
		value, want string // want "" = no state file lines
	}{
		{"", "server-state-file /var/lib/haproxy/shoal.state"},
		{"/run/shoal/lb.state", "server-state-file /run/shoal/lb.state"},
		{"none", ""},
	} {
		vars := map[string]string{}
		if tc.value != "" {
			vars["server_state_file"] = tc.value
		}
		out := string(renderBuiltin(t, "haproxy", vars))
		loads := strings.Contains(out, "    load-server-state-from-file global\n")
		if tc.want == "" && (loads || strings.Contains(out, "server-state-file")) {
			t.Errorf("server_state_file=%q: the file still names a state file:\n%s", tc.value, out)
		}
		if tc.want != "" && (!loads || !strings.Contains(out, "    "+tc.want+"\n")) {
			t.Errorf("server_state_file=%q: want %q and load-server-state-from-file global in:\n%s", tc.value, tc.want, out)
		}
	}
}

func TestBuiltin_Nginx(t *testing.T) {
	dir := t.TempDir()
	out := renderBuiltin(t, "nginx", map[string]string{"pid": filepath.Join(dir, "nginx.pid")})
	// The pid path differs per run; the golden file holds a fixed one.
	golden(t, "nginx.conf", []byte(strings.ReplaceAll(string(out), dir, "/run")))
	path := filepath.Join(dir, "nginx.conf")
	writeFile(t, path, string(out))
	validate(t, "nginx", "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path)
}

// Services are remote input: one named after HAProxy's own stats proxy
// must still give a file HAProxy accepts (service proxies carry a prefix),
// and two services on one frontend port must fail the render naming both
// rather than let HAProxy split one port's traffic between them.
func TestBuiltin_HAProxyServiceNames(t *testing.T) {
	tmpl, err := ParseTemplate(BuiltinPrefix + "haproxy")
	if err != nil {
		t.Fatal(err)
	}
	cluster := snapshot("lb1", 1, member("lb1", 1), member("web1", 11, svc("stats", 8080, 1), svc("web", 8081, 1)))

	d := NewData(cluster)
	d.Vars = map[string]string{"stats_port": "8404", "bind": "127.0.0.1"}
	out, _, err := tmpl.Execute(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "listen svc_stats\n") {
		t.Errorf("rendered file has no proxy svc_stats:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, string(out))
	validate(t, "haproxy", "-c", "-q", "-f", path)

	d = NewData(cluster)
	d.Vars = map[string]string{"listen.stats": "9000", "listen.web": "9000"}
	if _, _, err := tmpl.Execute(d); err == nil || !strings.Contains(err.Error(), "listenPort web: port 9000 is taken by service stats") {
		t.Errorf("two services on port 9000: got error %v, want one naming web, stats and the port", err)
	}
}

// An empty cluster (shoal agent -dev on a lone node) must still give a valid
// file: HAProxy with no proxies, nginx with an empty http block.
func TestBuiltin_EmptyCluster(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"haproxy", map[string]string{}, []string{"-c", "-q", "-f"}},
		{"nginx", map[string]string{"pid": filepath.Join(dir, "nginx.pid")}, []string{"-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := ParseTemplate(BuiltinPrefix + tc.name)
			if err != nil {
				t.Fatal(err)
			}
			d := NewData(snapshot("lb1", 1, member("lb1", 1)))
			d.Vars = tc.vars
			out, _, err := tmpl.Execute(d)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.name+".conf")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			validate(t, tc.name, append(tc.args, path)...)
		})
	}
}

// The pipeline with the real HAProxy adapter: a good render installs, a
// render HAProxy rejects keeps the last good file and reports HAProxy's own
// message.
func TestRunner_RealHAProxyValidation(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (run .ci/setup)")
	}
	be, err := backends.NewHAProxy(backends.HAProxyConfig{ReloadCommand: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "haproxy.cfg")
	src := newFakeSource(builtinCluster())
	vars := map[string]string{}
	r, err := New(Config{
		Source: src,
		Clock:  debouncetest.NewFakeClock(),
		Templates: []TemplateConfig{{
			Name: "lb", Source: "builtin:haproxy", Destination: dest, Backend: be, Vars: vars,
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	good := readFile(t, dest)
	if st := statusOf(t, r, "lb"); !st.OK || st.Reloads != 1 {
		t.Fatalf("status: got %+v, want installed and reloaded", st)
	}

	vars["balance"] = "no-such-algorithm" // the runner reads Vars at render time
	if err := r.RenderNow("lb"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, time.Minute, func() error {
		if st := statusOf(t, r, "lb"); st.Renders < 2 {
			return fmt.Errorf("got %d renders, want 2", st.Renders)
		}
		return nil
	})
	if got := readFile(t, dest); got != good {
		t.Errorf("a config haproxy rejected was installed:\n%s", got)
	}
	st := statusOf(t, r, "lb")
	if st.OK || !strings.Contains(st.Error, "balance only supports") || st.Reloads != 1 {
		t.Errorf("status: got %+v, want haproxy's rejection of the algorithm and no reload", st)
	}
}
