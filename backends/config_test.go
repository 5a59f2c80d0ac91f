package backends_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/backends"
)

func TestConfig_ValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  backends.Config
		want []string // each must appear in the error; none means valid
	}{
		{"haproxy with master socket", backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{MasterSocket: "/run/haproxy-master.sock"}}, nil},
		{"haproxy with reload command", backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{ReloadCommand: []string{"systemctl", "reload", "haproxy"}}}, nil},
		{"nginx", backends.Config{Kind: "nginx", Nginx: backends.NginxConfig{PidFile: "/run/nginx.pid"}}, nil},
		{"command", backends.Config{Kind: "command", Command: backends.CommandConfig{Check: []string{"lbcheck", "{{path}}"}, Reload: []string{"lbreload"}}}, nil},
		{"unknown kind", backends.Config{Kind: "traefik"}, []string{`backend: "traefik" is not a backend kind`}},
		{"empty kind", backends.Config{}, []string{`backend: "" is not a backend kind`}},
		{
			"haproxy without a way to reload",
			backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{Timeout: -time.Second}},
			[]string{"haproxy: master_socket or reload_command is required", "haproxy: timeout: -1s is negative"},
		},
		{
			"haproxy runtime path with negative durations",
			backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{MasterSocket: "/s", DrainTimeout: -time.Second, ReconcileInterval: -time.Minute}},
			[]string{"haproxy: drain_timeout: -1s is negative", "haproxy: reconcile_interval: -1m0s is negative"},
		},
		{
			"options of another kind, runtime ones only",
			backends.Config{Kind: "nginx", Nginx: backends.NginxConfig{PidFile: "/p"}, HAProxy: backends.HAProxyConfig{StatsSocket: "/s"}},
			[]string{`haproxy: options are set but the backend is "nginx"`},
		},
		{
			"haproxy with both ways to reload",
			backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{MasterSocket: "/s", ReloadCommand: []string{"x"}}},
			[]string{"haproxy: master_socket and reload_command are exclusive"},
		},
		{
			"nginx without pid file, relative prefix",
			backends.Config{Kind: "nginx", Nginx: backends.NginxConfig{Prefix: "etc/nginx"}},
			[]string{"nginx: pid_file is required", `nginx: prefix: "etc/nginx" is not an absolute path`},
		},
		{
			"command without reload, check without placeholder",
			backends.Config{Kind: "command", Command: backends.CommandConfig{Check: []string{"lbcheck"}}},
			[]string{"command: check: no argument mentions {{path}}", "command: reload is required"},
		},
		{
			"options of another kind",
			backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{MasterSocket: "/s"}, Nginx: backends.NginxConfig{PidFile: "/run/nginx.pid"}},
			[]string{`nginx: options are set but the backend is "haproxy"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors %q", tc.want)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate = %q, want it to contain %q", err, want)
				}
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tc.want) {
				t.Errorf("Validate reported %d problems, want %d: %q", got, len(tc.want), err)
			}
		})
	}
}

func TestNew_BuildsTheSelectedKind(t *testing.T) {
	t.Parallel()
	for _, cfg := range []backends.Config{
		{Kind: "haproxy", HAProxy: backends.HAProxyConfig{MasterSocket: "/s"}},
		{Kind: "nginx", Nginx: backends.NginxConfig{PidFile: "/p"}},
		{Kind: "command", Command: backends.CommandConfig{Reload: []string{"true"}}},
	} {
		b, err := backends.New(cfg)
		if err != nil {
			t.Fatalf("New(%s) = %v", cfg.Kind, err)
		}
		if b.Name() != cfg.Kind {
			t.Errorf("New(%s).Name() = %q, want %q", cfg.Kind, b.Name(), cfg.Kind)
		}
	}
	if _, err := backends.New(backends.Config{Kind: "nginx"}); err == nil {
		t.Error("New(nginx without pid_file) = nil error, want the validation error")
	}
}
