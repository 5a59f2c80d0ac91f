package backends_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/backends/backendtest"
)

// nginxConfig returns an nginx configuration that proxies 127.0.0.1:port
// to server, plus a listener on each extra port. Every file it names is
// relative, so inside the prefix: nothing touches Debian's /var/log/nginx
// or /run.
func nginxConfig(port int, server string, extraPorts ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `pid nginx.pid;
error_log error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    server {
        listen 127.0.0.1:%d;
        location / { proxy_pass http://%s; }
    }
`, port, server)
	for _, extra := range extraPorts {
		fmt.Fprintf(&b, "    server { listen 127.0.0.1:%d; return 204; }\n", extra)
	}
	b.WriteString("}\n")
	return b.String()
}

// nginxPrefix returns a prefix directory with nginx.conf written into it.
func nginxPrefix(t *testing.T, conf string) (prefix, confPath string) {
	t.Helper()
	prefix = t.TempDir()
	confPath = filepath.Join(prefix, "nginx.conf")
	writeFile(t, confPath, conf)
	return prefix, confPath
}

func newNginx(t *testing.T, cfg backends.NginxConfig) *backends.Nginx {
	t.Helper()
	n, err := backends.NewNginx(cfg)
	if err != nil {
		t.Fatalf("NewNginx: %v", err)
	}
	return n
}

func TestNginx_ValidateAcceptsGoodConfig(t *testing.T) {
	t.Parallel()
	prefix, _ := nginxPrefix(t, "")
	candidate := filepath.Join(prefix, "nginx.conf.candidate")
	writeFile(t, candidate, nginxConfig(backendtest.FreePort(t), "127.0.0.1:1"))
	// The pid file of the nginx running the installed configuration:
	// "nginx -t" opens it to check it could, and must not change it.
	pidFile := filepath.Join(prefix, "nginx.pid")
	writeFile(t, pidFile, "12345\n")
	n := newNginx(t, backends.NginxConfig{Prefix: prefix, PidFile: "nginx.pid"})
	if err := n.Validate(context.Background(), candidate); err != nil {
		t.Fatalf("Validate(good config) = %v, want nil", err)
	}
	if got, err := os.ReadFile(pidFile); err != nil || string(got) != "12345\n" {
		t.Errorf("pid file holds %q (err %v) after Validate, want the running master's %q", got, err, "12345\n")
	}
}

func TestNginx_ValidateRejectsBadConfigWithNginxsMessage(t *testing.T) {
	t.Parallel()
	prefix, _ := nginxPrefix(t, "")
	candidate := filepath.Join(prefix, "nginx.conf.candidate")
	writeFile(t, candidate, nginxConfig(backendtest.FreePort(t), "127.0.0.1:1")+"bogus_directive on;\n")
	n := newNginx(t, backends.NginxConfig{Prefix: prefix, PidFile: "nginx.pid"})
	err := n.Validate(context.Background(), candidate)
	if err == nil {
		t.Fatal("Validate(bad config) = nil, want an error")
	}
	for _, want := range []string{"nginx -t", "exit status 1", `unknown directive "bogus_directive"`, "nginx.conf.candidate:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// nginxServingOne is a running nginx, with its prefix and config, that
// serves port from a server named "one"; two is a second server, named
// "two", for a test to reload to, and before the workers ahead of any
// reload.
type nginxServingOne struct {
	nx                *backendtest.NginxProcess
	port              int
	prefix, conf, two string
	before            []int
}

func startNginxServingOne(t *testing.T) nginxServingOne {
	t.Helper()
	one, two := namedServer(t, "one"), namedServer(t, "two")
	port := backendtest.FreePort(t)
	prefix, conf := nginxPrefix(t, nginxConfig(port, one))
	nx := backendtest.StartNginx(t, prefix, conf)
	waitServedBy(t, port, "one")
	before, err := nx.Workers()
	if err != nil {
		t.Fatal(err)
	}
	return nginxServingOne{nx: nx, port: port, prefix: prefix, conf: conf, two: two, before: before}
}

func TestNginx_ReloadSwitchesBackend(t *testing.T) {
	t.Parallel()
	f := startNginxServingOne(t)
	nx, port, prefix, conf, two, before := f.nx, f.port, f.prefix, f.conf, f.two, f.before
	n := newNginx(t, backends.NginxConfig{Prefix: prefix, PidFile: "nginx.pid", ErrorLog: "error.log"})

	writeFile(t, conf, nginxConfig(port, two))
	if err := n.Validate(context.Background(), conf); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := n.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	after, err := nx.Workers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(after, func(pid int) bool { return !slices.Contains(before, pid) }) {
		t.Errorf("workers %v after a reload that reported success, want one not in %v", after, before)
	}
	waitServedBy(t, port, "two")
}

func TestNginx_ReloadThatCannotStartIsReportedAndOldWorkersServe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		errorLog string
		want     string
	}{
		// With the error log, the failure is known as soon as nginx logs it.
		{"with error log", "error.log", "bind() to 127.0.0.1:"},
		// Without, only as the absence of new workers at the deadline.
		{"without error log", "", "started no new workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startNginxServingOne(t)
			nx, port, prefix, conf, two, before := f.nx, f.port, f.prefix, f.conf, f.two, f.before
			timeout := backends.DefaultTimeout
			if tc.errorLog == "" {
				timeout = time.Second // the wait for workers that never come
			}
			n := newNginx(t, backends.NginxConfig{Prefix: prefix, PidFile: "nginx.pid", ErrorLog: tc.errorLog, Timeout: timeout})

			// A port held by someone else passes "nginx -t", which does not
			// bind, and fails the master's reload.
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			writeFile(t, conf, nginxConfig(port, two, taken.Addr().(*net.TCPAddr).Port))
			if err := n.Validate(context.Background(), conf); err != nil {
				t.Fatalf("Validate(config with a taken port) = %v, want nil: the check must not bind", err)
			}

			err = n.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload = %v, want an error containing %q", err, tc.want)
			}
			if tc.errorLog == "" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Reload = %v, want it to wrap context.DeadlineExceeded", err)
			}
			if err := nx.Running(); err != nil {
				t.Fatal(err)
			}
			after, err := nx.Workers()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(after, before) {
				t.Errorf("workers %v after the failed reload, want the old ones %v", after, before)
			}
			if got, err := get(port); err != nil || got != "one" {
				t.Errorf("after the failed reload: served by %q (err %v), want %q by the old workers", got, err, "one")
			}
		})
	}
}

func TestNginx_ReloadWithoutRunningMasterFails(t *testing.T) {
	t.Parallel()
	prefix := t.TempDir()
	n := newNginx(t, backends.NginxConfig{Prefix: prefix, PidFile: "nginx.pid"})
	if err := n.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "pid file") {
		t.Errorf("Reload with no pid file = %v, want an error about the pid file", err)
	}
	// A PID that is certainly not running: one past the kernel's maximum.
	writeFile(t, filepath.Join(prefix, "nginx.pid"), "4194305\n")
	if err := n.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Reload with a stale pid file = %v, want an error saying the master is not running", err)
	}
}
