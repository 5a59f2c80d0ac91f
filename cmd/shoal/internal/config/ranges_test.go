package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/backends"
)

// TestLoad_Ranges holds every duration and count key to its range: values
// just outside are errors naming the file, the key, the value and the
// range; the ends are accepted.
func TestLoad_Ranges(t *testing.T) {
	const tmpl = "template {\n  source = \"builtin:haproxy\"\n  destination = \"/tmp/h.cfg\"\n  master_socket = \"/s\"\n  %s\n}\n"
	inTemplate := func(body string) string { return fmt.Sprintf(tmpl, body) }
	top := func(key string) func(string) string {
		return func(v string) string { return key + " = " + v }
	}
	block := func(name, key string) func(string) string {
		return func(v string) string { return name + " {\n  " + key + " = " + v + "\n}" }
	}
	soa := func(key string) func(string) string {
		return func(v string) string { return "dns {\n  soa {\n    " + key + " = " + v + "\n  }\n}" }
	}
	for _, c := range []struct {
		key       string // as the error names it
		hcl       func(v string) string
		bad, good []string
		want      string
	}{
		{"retry_interval", top("retry_interval"), []string{`"0s"`, `"99ms"`, `"25h"`, `"-1s"`}, []string{`"100ms"`, `"24h"`}, "must be between 100ms and 24h"},
		{"retry_max", top("retry_max"), []string{"-1", "1000001"}, []string{"0", "1000000"}, "must be between 0 and 1000000"},
		{"handler_timeout", top("handler_timeout"), []string{`"0s"`, `"25h"`}, []string{`"100ms"`, `"24h"`}, "must be between 100ms and 24h"},
		{"handler_queue", top("handler_queue"), []string{"0", "65537"}, []string{"1", "65536"}, "must be between 1 and 65536"},

		{"dns.node_ttl", block("dns", "node_ttl"), []string{`"-1s"`, `"25h"`}, []string{`"0s"`, `"24h"`}, "must be between 0s and 24h"},
		{"dns.node_ttl", block("dns", "node_ttl"), []string{`"1500ms"`}, nil, "must be a whole number of seconds"},
		{"dns.service_ttl", block("dns", "service_ttl"), []string{`"25h"`}, []string{`"0s"`, `"5s"`}, "must be between 0s and 24h"},
		{"dns.service_ttls.web", block("dns", "service_ttls"), []string{`{ web = "48h" }`}, []string{`{ web = "5s" }`}, "must be between 0s and 24h"},
		{"dns.negative_ttl", block("dns", "negative_ttl"), []string{`"25h"`}, []string{`"0s"`, `"1h"`}, "must be between 0s and 24h"},
		{"dns.max_answers", block("dns", "max_answers"), []string{"-1", "4097"}, []string{"0", "4096"}, "must be between 0 and 4096"},
		{"dns.udp_answer_limit", block("dns", "udp_answer_limit"), []string{"-1", "4097"}, []string{"0", "4096"}, "must be between 0 and 4096"},
		{"dns.soa.refresh", soa("refresh"), []string{`"0s"`, `"8761h"`}, []string{`"1s"`, `"8760h"`}, "must be between 1s and 8760h"},
		{"dns.soa.retry", soa("retry"), []string{`"0s"`, `"8761h"`}, []string{`"1s"`, `"10m"`}, "must be between 1s and 8760h"},
		{"dns.soa.expire", soa("expire"), []string{`"0s"`, `"8761h"`}, []string{`"1s"`, `"336h"`}, "must be between 1s and 8760h"},
		{"dns.soa.expire", soa("expire"), []string{`"1500ms"`}, nil, "must be a whole number of seconds"},
		{"dns.soa.min_ttl", soa("min_ttl"), []string{`"25h"`, `"-1s"`}, []string{`"0s"`, `"24h"`}, "must be between 0s and 24h"},

		{"template[0]: wait.min", func(v string) string { return inTemplate("wait {\n min = " + v + "\n max = \"1h\"\n}") }, []string{`"-1s"`, `"61m"`}, []string{`"0s"`, `"1h"`}, "must be between 0s and 1h"},
		{"template[0]: wait.max", func(v string) string { return inTemplate("wait {\n min = \"0s\"\n max = " + v + "\n}") }, []string{`"-1s"`, `"2h"`}, []string{`"0s"`, `"1h"`}, "must be between 0s and 1h"},
		{"template[0]: timeout", func(v string) string { return inTemplate("timeout = " + v) }, []string{`"0s"`, `"999ms"`, `"2h"`}, []string{`"1s"`, `"1h"`}, "must be between 1s and 1h"},
		{"template[0]: drain_timeout", func(v string) string { return inTemplate("drain_timeout = " + v) }, []string{`"0s"`, `"999ms"`, `"25h"`}, []string{`"1s"`, `"24h"`}, "must be between 1s and 24h"},
		{"template[0]: reconcile_interval", func(v string) string { return inTemplate("reconcile_interval = " + v) }, []string{`"0s"`, `"999ms"`, `"25h"`}, []string{`"1s"`, `"24h"`}, "must be between 1s and 24h"},
		{"template[0]: min_backends", func(v string) string { return inTemplate("min_backends = " + v) }, []string{"-1", "1000001"}, []string{"0", "1000000"}, "must be between 0 and 1000000"},

		{"gossip.probe_interval", block("gossip", "probe_interval"), []string{`"0s"`, `"9ms"`, `"2m"`}, []string{`"10ms"`, `"1m"`}, "must be between 10ms and 1m"},
		{"gossip.probe_timeout", block("gossip", "probe_timeout"), []string{`"0s"`, `"2m"`}, []string{`"5ms"`, `"1m"`}, "must be between 5ms and 1m"},
		{"gossip.gossip_interval", block("gossip", "gossip_interval"), []string{`"0s"`, `"11s"`}, []string{`"5ms"`, `"10s"`}, "must be between 5ms and 10s"},
		{"gossip.push_pull_interval", block("gossip", "push_pull_interval"), []string{`"0s"`, `"2h"`}, []string{`"100ms"`, `"1h"`}, "must be between 100ms and 1h"},
		{"gossip.suspicion_mult", block("gossip", "suspicion_mult"), []string{"0", "21"}, []string{"1", "20"}, "must be between 1 and 20"},
		{"gossip.reconnect_interval", block("gossip", "reconnect_interval"), []string{`"0s"`, `"25h"`}, []string{`"100ms"`, `"24h"`}, "must be between 100ms and 24h"},
		{"gossip.reconnect_timeout", block("gossip", "reconnect_timeout"), []string{`"0s"`, `"59s"`, `"8761h"`}, []string{`"1m"`, `"8760h"`}, "must be between 1m and 8760h"},
		{"gossip.tombstone_timeout", block("gossip", "tombstone_timeout"), []string{`"0s"`, `"8761h"`}, []string{`"1m"`, `"8760h"`}, "must be between 1m and 8760h"},
		{"gossip.reap_interval", block("gossip", "reap_interval"), []string{`"0s"`, `"2h"`}, []string{`"100ms"`, `"1h"`}, "must be between 100ms and 1h"},
		{"gossip.leave_timeout", block("gossip", "leave_timeout"), []string{`"0s"`, `"11m"`}, []string{`"100ms"`, `"10m"`}, "must be between 100ms and 10m"},
	} {
		dir := t.TempDir()
		for _, v := range c.bad {
			p := write(t, dir, "agent.hcl", c.hcl(v))
			_, err := load(t, "-config-file", p)
			shown := strings.Trim(v, `"`)
			if i := strings.Index(v, `"`); strings.HasPrefix(v, "{") && i >= 0 {
				shown = strings.Trim(v[i:strings.LastIndex(v, `"`)+1], `"`)
			}
			want := fmt.Sprintf("%s: %s = %s: %s", p, c.key, shown, c.want)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %s: got error %v, want %q", c.key, v, err, want)
			}
		}
		for _, v := range c.good {
			p := write(t, dir, "agent.hcl", c.hcl(v))
			if _, err := load(t, "-config-file", p); err != nil {
				t.Errorf("%s = %s: got %v, want it accepted", c.key, v, err)
			}
		}
	}
}

// TestLoad_ZeroDurationsRefused: the two zeros that used to get through
// (a ticker panic, handlers killed at once) are errors in the words.
func TestLoad_ZeroDurationsRefused(t *testing.T) {
	p := write(t, t.TempDir(), "agent.hcl", "retry_interval = \"0s\"\nhandler_timeout = \"0s\"\n")
	_, err := load(t, "-config-file", p)
	for _, want := range []string{
		p + ": retry_interval = 0s: must be between 100ms and 24h",
		p + ": handler_timeout = 0s: must be between 100ms and 24h",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

// TestLoad_DefaultsWithinRanges: the defaults satisfy the ranges the file
// is held to.
func TestLoad_DefaultsWithinRanges(t *testing.T) {
	c := DefaultConfig()
	for key, err := range map[string]error{
		"retry_interval":     retryIntervalRange.check(c.RetryInterval),
		"retry_max":          retryMaxRange.check(c.RetryMax),
		"handler_timeout":    handlerTimeoutRange.check(c.HandlerTimeout),
		"handler_queue":      handlerQueueRange.check(c.HandlerQueue),
		"wait.min":           waitMinRange.check(DefaultWaitMin),
		"wait.max":           waitMaxRange.check(DefaultWaitMax),
		"drain_timeout":      drainTimeoutRange.check(backends.DefaultDrainTimeout),
		"reconcile_interval": reconcileIntervalRange.check(backends.DefaultReconcileInterval),
	} {
		if err != nil {
			t.Errorf("default %s: %v", key, err)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[string]string{"24h": "24h", "1m": "1m", "90m": "1h30m", "500ms": "500ms", "0s": "0s", "8760h": "8760h", "1h0m30s": "1h0m30s"} {
		if got := fmtDuration(mustDuration(t, d)); got != want {
			t.Errorf("fmtDuration(%s): got %s, want %s", d, got, want)
		}
	}
}
