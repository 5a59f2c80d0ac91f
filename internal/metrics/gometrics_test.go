package metrics

import (
	"testing"

	gometrics "github.com/hashicorp/go-metrics"
)

// values gathers reg into "name{labels}" -> value (a summary's sum, and
// its count as name_count).
func values(t *testing.T, reg *Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metrics {
			if f.Kind == SummaryKind {
				out[f.Name+"_sum"+formatLabels(m.Labels)] = m.Sum
				out[f.Name+"_count"+formatLabels(m.Labels)] = float64(m.Count)
				continue
			}
			out[f.Name+formatLabels(m.Labels)] = m.Value
		}
	}
	return out
}

// Through go-metrics as memberlist reports (service name "shoal"), the
// sink names metrics as go-metrics' Prometheus sink did.
func TestSink_Names(t *testing.T) {
	reg := NewRegistry()
	sink := NewSink()
	reg.Register(sink)
	cfg := gometrics.DefaultConfig("shoal")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	m, err := gometrics.New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	m.IncrCounterWithLabels([]string{"memberlist", "tcp", "accept"}, 1, nil)
	m.IncrCounterWithLabels([]string{"memberlist", "tcp", "accept"}, 2, nil)
	m.IncrCounterWithLabels([]string{"memberlist", "tcp", "accept"}, -5, nil) // a counter cannot go down
	m.SetGaugeWithLabels([]string{"memberlist", "node", "instances"}, 3, []gometrics.Label{{Name: "node_state", Value: "alive"}})
	m.SetGaugeWithLabels([]string{"memberlist", "node", "instances"}, 2, []gometrics.Label{{Name: "node_state", Value: "alive"}})
	m.SetGaugeWithLabels([]string{"memberlist", "node", "instances"}, 0, []gometrics.Label{{Name: "node_state", Value: "dead"}})
	m.AddSampleWithLabels([]string{"memberlist", "probeNode"}, 2.5, nil)
	m.AddSampleWithLabels([]string{"memberlist", "probeNode"}, 0.5, nil)
	m.IncrCounterWithLabels([]string{"odd.key-with/chars", "x=y z"}, 1, []gometrics.Label{{Name: "bad-label", Value: "v"}})
	m.EmitKey([]string{"ignored"}, 1)

	got := values(t, reg)
	want := map[string]float64{
		"shoal_memberlist_tcp_accept":                         3,
		`shoal_memberlist_node_instances{node_state="alive"}`: 2,
		`shoal_memberlist_node_instances{node_state="dead"}`:  0,
		"shoal_memberlist_probeNode_sum":                      3,
		"shoal_memberlist_probeNode_count":                    2,
		`shoal_odd_key_with_chars_x_y_z{bad_label="v"}`:       1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (found %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want only %v", got, want)
	}
}

// Two registries, two sinks: nothing shared.
func TestSink_PerRegistry(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	sa, sb := NewSink(), NewSink()
	a.Register(sa)
	b.Register(sb)
	sa.IncrCounter([]string{"x"}, 1)
	if got := values(t, b); len(got) != 0 {
		t.Errorf("b holds %v, want nothing", got)
	}
	if got := values(t, a)["x"]; got != 1 {
		t.Errorf("a's x = %v, want 1", got)
	}
}

// A gauge and a counter under one name disagree: the scrape fails, as it
// did with the Prometheus client.
func TestSink_KindClash(t *testing.T) {
	reg := NewRegistry()
	sink := NewSink()
	reg.Register(sink)
	sink.IncrCounter([]string{"x"}, 1)
	sink.SetGauge([]string{"x"}, 1)
	if _, err := reg.Gather(); err == nil {
		t.Error("Gather: nil error, want a clash")
	}
}
