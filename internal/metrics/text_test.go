package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	gometrics "github.com/hashicorp/go-metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// odd is a label value with every character the format escapes.
const odd = "a\\b\"c\nd é"

// populated is a registry with every kind of metric: counters and a vec
// (an odd label value among them), gauge funcs with the floats that need
// care, a scrape-time collector with unsorted label names, a summary and
// go-metrics' sink.
func populated() *Registry {
	reg := NewRegistry()
	c := NewCounter("t_plain_total", "A counter; HELP with a \\, a \"quote\" and a\nline feed.")
	c.Add(3)
	vec := NewCounterVec("t_vec_total", "A counter vec.", "kind")
	vec.WithLabelValues("b").Inc()
	vec.WithLabelValues(odd).Add(2.5)
	vec.WithLabelValues("a")
	pair := NewDesc("t_pair", "Two labels, given out of order.", GaugeKind, "zone", "app")
	sum := NewDesc("t_summary_seconds", "A summary.", SummaryKind, "op")
	reg.Register(c, vec,
		NewGaugeFunc("t_inf", "Infinity.", func() float64 { return math.Inf(1) }),
		NewGaugeFunc("t_neg_inf", "Minus infinity.", func() float64 { return math.Inf(-1) }),
		NewGaugeFunc("t_nan", "Not a number.", math.NaN),
		NewGaugeFunc("t_big", "A large integer.", func() float64 { return 1502624 }, Label{"version", "v1.2.3"}),
		NewGaugeFunc("t_small", "A small integer and a fraction.", func() float64 { return 220 }),
		NewGaugeFunc("t_frac", "A fraction.", func() float64 { return 0.25 }),
		NewGaugeFunc("t_negative", "Below zero.", func() float64 { return -1.5e-7 }),
		CollectorFunc(func(s *Scrape) {
			s.Add(pair, 2, "z2", "web")
			s.Add(pair, 1, "z1", "web")
			s.Add(pair, 3, "z1", "api")
			s.AddSummary(sum, 4, 1.5, []Quantile{{0.5, 0.25}, {0.99, 1}}, "get")
		}),
	)
	sink := NewSink()
	sink.IncrCounterWithLabels([]string{"shoal", "memberlist", "tcp", "accept"}, 2, nil)
	sink.SetGaugeWithLabels([]string{"shoal", "memberlist", "node", "instances"}, 1, []gometrics.Label{{Name: "node_state", Value: "alive"}})
	sink.AddSample([]string{"shoal", "memberlist", "gossip"}, 0.5)
	sink.AddSample([]string{"shoal", "memberlist", "gossip"}, 1.5)
	reg.Register(sink)
	return reg
}

const populatedText = `# HELP shoal_memberlist_gossip shoal_memberlist_gossip
# TYPE shoal_memberlist_gossip summary
shoal_memberlist_gossip_sum 2
shoal_memberlist_gossip_count 2
# HELP shoal_memberlist_node_instances shoal_memberlist_node_instances
# TYPE shoal_memberlist_node_instances gauge
shoal_memberlist_node_instances{node_state="alive"} 1
# HELP shoal_memberlist_tcp_accept shoal_memberlist_tcp_accept
# TYPE shoal_memberlist_tcp_accept counter
shoal_memberlist_tcp_accept 2
# HELP t_big A large integer.
# TYPE t_big gauge
t_big{version="v1.2.3"} 1.502624e+06
# HELP t_frac A fraction.
# TYPE t_frac gauge
t_frac 0.25
# HELP t_inf Infinity.
# TYPE t_inf gauge
t_inf +Inf
# HELP t_nan Not a number.
# TYPE t_nan gauge
t_nan NaN
# HELP t_neg_inf Minus infinity.
# TYPE t_neg_inf gauge
t_neg_inf -Inf
# HELP t_negative Below zero.
# TYPE t_negative gauge
t_negative -1.5e-07
# HELP t_pair Two labels, given out of order.
# TYPE t_pair gauge
t_pair{app="api",zone="z1"} 3
t_pair{app="web",zone="z1"} 1
t_pair{app="web",zone="z2"} 2
# HELP t_plain_total A counter; HELP with a \\, a "quote" and a\nline feed.
# TYPE t_plain_total counter
t_plain_total 3
# HELP t_small A small integer and a fraction.
# TYPE t_small gauge
t_small 220
# HELP t_summary_seconds A summary.
# TYPE t_summary_seconds summary
t_summary_seconds{op="get",quantile="0.5"} 0.25
t_summary_seconds{op="get",quantile="0.99"} 1
t_summary_seconds_sum{op="get"} 1.5
t_summary_seconds_count{op="get"} 4
# HELP t_vec_total A counter vec.
# TYPE t_vec_total counter
t_vec_total{kind="a"} 0
t_vec_total{kind="a\\b\"c\nd é"} 2.5
t_vec_total{kind="b"} 1
`

// The text is exactly what the Prometheus client wrote for the same
// metrics: families by name, samples by label values, label pairs by
// name, its escapes and float formats.
func TestWriteText_Format(t *testing.T) {
	b := scrape(t, populated())
	if got := b.String(); got != populatedText {
		t.Errorf("got:\n%s\nwant:\n%s", got, populatedText)
	}
}

// Prometheus' own parser reads the output back to the same names, types,
// labels and values.
func TestWriteText_ParsesBack(t *testing.T) {
	b := scrape(t, populated())
	parsed := parse(t, b)
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels string
		value  float64
	}{
		{"t_plain_total", dto.MetricType_COUNTER, "", 3},
		{"t_vec_total", dto.MetricType_COUNTER, `kind=` + odd, 2.5},
		{"t_vec_total", dto.MetricType_COUNTER, `kind=a`, 0},
		{"t_inf", dto.MetricType_GAUGE, "", math.Inf(1)},
		{"t_neg_inf", dto.MetricType_GAUGE, "", math.Inf(-1)},
		{"t_big", dto.MetricType_GAUGE, "version=v1.2.3", 1502624},
		{"t_negative", dto.MetricType_GAUGE, "", -1.5e-7},
		{"t_pair", dto.MetricType_GAUGE, "app=web,zone=z2", 2},
		{"t_summary_seconds", dto.MetricType_SUMMARY, "op=get", 1.5},
		{"shoal_memberlist_tcp_accept", dto.MetricType_COUNTER, "", 2},
		{"shoal_memberlist_node_instances", dto.MetricType_GAUGE, "node_state=alive", 1},
		{"shoal_memberlist_gossip", dto.MetricType_SUMMARY, "", 2},
	} {
		mf := parsed[c.name]
		if mf == nil {
			t.Errorf("%s: not in the output", c.name)
			continue
		}
		if mf.GetType() != c.typ {
			t.Errorf("%s: type %v, want %v", c.name, mf.GetType(), c.typ)
		}
		v, ok := sample(mf, c.labels)
		if !ok || v != c.value {
			t.Errorf("%s{%s} = %v (found %v), want %v", c.name, c.labels, v, ok, c.value)
		}
	}
	if v, ok := sample(parsed["t_nan"], ""); !ok || !math.IsNaN(v) {
		t.Errorf("t_nan = %v, want NaN", v)
	}
	if got := parsed["t_plain_total"].GetHelp(); got != "A counter; HELP with a \\, a \"quote\" and a\nline feed." {
		t.Errorf("HELP read back as %q", got)
	}
	s := parsed["t_summary_seconds"].GetMetric()[0].GetSummary()
	if s.GetSampleCount() != 4 || len(s.GetQuantile()) != 2 || s.GetQuantile()[1].GetValue() != 1 {
		t.Errorf("t_summary_seconds read back as %v", s)
	}
	if len(parsed) != 14 {
		t.Errorf("%d families read back, want 14", len(parsed))
	}
}

// scrape gathers reg and writes it as text, as GET /metrics does.
func scrape(t *testing.T, reg *Registry) *bytes.Buffer {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteText(&b, fams); err != nil {
		t.Fatal(err)
	}
	return &b
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	parsed, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("Prometheus' parser: %v", err)
	}
	return parsed
}

// sample is the value of mf's metric whose labels, "name=value" joined
// by commas in name order, are labels: a summary's sum, else the value.
func sample(mf *dto.MetricFamily, labels string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		var l []string
		for _, p := range m.GetLabel() {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		if strings.Join(l, ",") != labels {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_SUMMARY:
			return m.GetSummary().GetSampleSum(), true
		default:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// GET /metrics: the text format's media type, gzipped when asked.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(populated().Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	for _, gz := range []bool{false, true} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body := io.Reader(resp.Body)
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != gz {
			t.Errorf("gzip %v: Content-Encoding %q", gz, got)
		}
		if gz {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		b, err := io.ReadAll(body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("gzip %v: %d %q", gz, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if string(b) != populatedText {
			t.Errorf("gzip %v: body:\n%s", gz, b)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "gzip;q=0": false, "identity": false, "x-gzip": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// Collectors that disagree fail the scrape (500), as the Prometheus
// client's registry did, rather than serve half an answer.
func TestGather_Inconsistent(t *testing.T) {
	g := NewDesc("t_x", "X.", GaugeKind, "a")
	for name, c := range map[string]CollectorFunc{
		"kind":  func(s *Scrape) { s.Add(g, 1, "1"); s.Add(NewDesc("t_x", "X.", CounterKind), 1) },
		"help":  func(s *Scrape) { s.Add(g, 1, "1"); s.Add(NewDesc("t_x", "Y.", GaugeKind, "a"), 1, "2") },
		"twice": func(s *Scrape) { s.Add(g, 1, "1"); s.Add(g, 2, "1") },
		"arity": func(s *Scrape) { s.Add(g, 1) },
		"collision": func(s *Scrape) {
			s.Add(NewDesc("t_s_count", "C.", GaugeKind), 1)
			s.AddSummary(NewDesc("t_s", "S.", SummaryKind), 1, 1, nil)
		},
	} {
		reg := NewRegistry()
		reg.Register(c)
		if _, err := reg.Gather(); err == nil {
			t.Errorf("%s: Gather: nil error", name)
		}
		rec := httptest.NewRecorder()
		reg.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s: GET /metrics: %d, want 500", name, rec.Code)
		}
	}
}

func TestNewDesc_Invalid(t *testing.T) {
	for _, c := range []struct {
		name   string
		kind   Kind
		labels []string
	}{
		{"", GaugeKind, nil}, {"1x", GaugeKind, nil}, {"a-b", GaugeKind, nil},
		{"x", GaugeKind, []string{"a:b"}}, {"x", GaugeKind, []string{"__name"}},
		{"x", GaugeKind, []string{"a", "a"}}, {"x", SummaryKind, []string{"quantile"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDesc(%q, %v): no panic", c.name, c.labels)
				}
			}()
			NewDesc(c.name, "", c.kind, c.labels...)
		}()
	}
	NewDesc("ok:name_1", "", GaugeKind, "a_1", "_b")
}

func TestAppendFloat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1: "-1", 845: "845", 1e21: "1e+21",
		9.223372036854776e18: "9.223372036854776e+18", 0.001940081: "0.001940081", 123456: "123456", 1234567: "1.234567e+06",
	} {
		if got := string(appendFloat(nil, v)); got != want {
			t.Errorf("appendFloat(%v) = %q, want %q", v, got, want)
		}
	}
}

// BenchmarkHandler is a scrape of a registry with every kind of metric
// and the Go and process collectors.
func BenchmarkHandler(b *testing.B) {
	reg := populated()
	reg.Register(NewGoCollector(), NewProcessCollector())
	h := reg.Handler(slog.New(slog.DiscardHandler))
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
