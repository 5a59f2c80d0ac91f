package agent

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// scrape GETs the agent's /metrics over its HTTP listener and parses it
// with Prometheus' own parser: shoal writes the exposition itself, and
// this proves it valid.
func scrape(ta *testAgent) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + ta.HTTPAddr() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/plain; version=0.0.4; charset=utf-8" {
		return nil, fmt.Errorf("GET /metrics: %s, Content-Type %q", resp.Status, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(resp.Body)
}

// A real agent's scrape, every kind of metric in it, reads back with the
// names, types and values the Prometheus client used to export.
func TestAgent_MetricsExposition(t *testing.T) {
	a := startAgent(t, testConfig("a"))
	b := startAgent(t, testConfig("b"))
	b.join(t, a)
	if err := a.svc.Register(api.ServiceRegistration{ID: "api", Name: "api", Port: 9000, Checks: []api.CheckDefinition{{TTL: "1h"}}}); err != nil {
		t.Fatal(err)
	}
	var fams map[string]*dto.MetricFamily
	testutil.WaitFor(t, waitLong, func() error {
		var err error
		if fams, err = scrape(a); err != nil {
			return err
		}
		if v := value(fams, "shoal_members", "status", "alive"); v != 2 {
			return fmt.Errorf("shoal_members{status=alive} = %v, want 2", v)
		}
		if v := value(fams, "shoal_memberlist_tcp_accept"); !(v >= 1) {
			return fmt.Errorf("shoal_memberlist_tcp_accept = %v, want >= 1", v)
		}
		// memberlist counts UDP only once it has sent some (a probe or gossip).
		if v := value(fams, "shoal_memberlist_udp_sent"); !(v >= 1) {
			return fmt.Errorf("shoal_memberlist_udp_sent = %v, want >= 1", v)
		}
		return nil
	})
	for name, typ := range map[string]dto.MetricType{
		"shoal_members": dto.MetricType_GAUGE, "shoal_dropped_total": dto.MetricType_COUNTER,
		"shoal_build_info": dto.MetricType_GAUGE, "shoal_gossip_encrypted": dto.MetricType_GAUGE,
		"shoal_handler_runs_total": dto.MetricType_COUNTER, "shoal_http_connections_open": dto.MetricType_GAUGE,
		"shoal_http_connections_refused_total": dto.MetricType_COUNTER, "shoal_check_status": dto.MetricType_GAUGE,
		"shoal_catalog_messages_total": dto.MetricType_COUNTER, "shoal_lamport_time": dto.MetricType_GAUGE,
		"shoal_memberlist_tcp_accept": dto.MetricType_COUNTER, "shoal_memberlist_udp_sent": dto.MetricType_COUNTER,
		"go_goroutines": dto.MetricType_GAUGE, "go_gc_duration_seconds": dto.MetricType_SUMMARY,
		"go_memstats_heap_inuse_bytes": dto.MetricType_GAUGE, "go_memstats_alloc_bytes_total": dto.MetricType_COUNTER,
		"go_info": dto.MetricType_GAUGE,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want a %v family", name, f, typ)
		}
	}
	if runtime.GOOS == "linux" {
		if v := value(fams, "process_resident_memory_bytes"); !(v > 0) {
			t.Errorf("process_resident_memory_bytes = %v", v)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shoal_build_info", []string{"version", buildinfo.Version}, 1},
		{"shoal_handler_runs_total", []string{"result", "timeout"}, 0},
		{"shoal_http_connections_refused_total", []string{"cap", "http_max_conns_per_client"}, 0},
		{"shoal_check_status", []string{"check", "api-check", "service", "api", "status", "critical"}, 1},
		{"shoal_check_status", []string{"check", "api-check", "service", "api", "status", "passing"}, 0},
		{"shoal_insecure_gossip", nil, 0},
		{"go_info", []string{"version", runtime.Version()}, 1},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// value is the counter or gauge value of the family's metric with exactly
// these label pairs (name, value, ...), or -1.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				found = found || labels[i] == l.GetName() && labels[i+1] == l.GetValue()
			}
			match = match && found
		}
		if !match {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}
