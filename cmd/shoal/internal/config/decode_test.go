package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// allKindsHCL sets a field of every kind fileConfig has: optional string,
// int, bool and float pointers, required string and int, string lists,
// string maps, a map of lists, pointer blocks (nested too) and repeated
// blocks (nested too), with values cty converts (5 to "5", "81" to 81).
const allKindsHCL = `
node_name       = "n1"
retry_max       = 3
insecure_gossip = true
join            = ["a", "b"]
tags            = { role = "web", n = 5 }
service {
  name = "web"
  port = 80
  check {
    http   = "http://127.0.0.1/"
    header = { "X-A" = ["1", "2"] }
  }
}
service {
  name = "api"
  port = "81"
}
template {
  source            = "s"
  destination       = "d"
  max_drop_fraction = 0.25
  wait {
    min = "1s"
  }
}
dns {
  soa {
    refresh = "1h"
  }
}
`

// allKindsJSON is allKindsHCL in HCL's JSON: one block as an object, two
// as an array of objects.
const allKindsJSON = `{
  "node_name": "n1",
  "retry_max": 3,
  "insecure_gossip": true,
  "join": ["a", "b"],
  "tags": {"role": "web", "n": 5},
  "service": [
    {"name": "web", "port": 80,
     "check": {"http": "http://127.0.0.1/", "header": {"X-A": ["1", "2"]}}},
    {"name": "api", "port": "81"}
  ],
  "template": {"source": "s", "destination": "d", "max_drop_fraction": 0.25, "wait": {"min": "1s"}},
  "dns": {"soa": {"refresh": "1h"}}
}`

func TestDecode_EveryKindHCLAndJSONAlike(t *testing.T) {
	want := fileConfig{
		NodeName:       ptr("n1"),
		RetryMax:       ptr(3),
		InsecureGossip: ptr(true),
		Join:           []string{"a", "b"},
		Tags:           map[string]string{"role": "web", "n": "5"},
		Services: []fileService{
			{Name: "web", Port: 80, Checks: []fileCheck{{
				HTTP:   ptr("http://127.0.0.1/"),
				Header: map[string][]string{"X-A": {"1", "2"}},
			}}},
			{Name: "api", Port: 81},
		},
		Templates: []fileTemplate{{Source: "s", Destination: "d", MaxDropFraction: ptr(0.25),
			Wait: &fileWait{Min: ptr("1s")}}},
		DNS: &fileDNS{SOA: &fileSOA{Refresh: ptr("1h")}},
	}
	for name, src := range map[string]string{"all.hcl": allKindsHCL, "all.json": allKindsJSON} {
		var got fileConfig
		if diags := decodeFile(name, []byte(src), &got); diags.HasErrors() {
			t.Fatalf("%s: %v", name, diagErrors(diags))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

// Absent keys stay nil, so a later file only overrides what it sets; null
// is the same as absent for an optional key.
func TestDecode_AbsentAndNullLeaveNil(t *testing.T) {
	var got fileConfig
	if diags := decodeFile("n.hcl", []byte("node_name = null\n"), &got); diags.HasErrors() {
		t.Fatal(diagErrors(diags))
	}
	if !reflect.DeepEqual(got, fileConfig{}) {
		t.Errorf("got %+v, want the zero fileConfig", got)
	}
}

// listener and main exercise what fileConfig does not use: labels and a
// required block.
type labelled struct {
	Name string `hcl:"name,label"`
	Port int    `hcl:"port"`
}

type withLabels struct {
	Listeners []*labelled `hcl:"listener,block"`
	Main      struct {
		Debug *bool `hcl:"debug,optional"`
	} `hcl:"main,block"`
}

func TestDecode_LabelsAndRequiredBlock(t *testing.T) {
	for name, src := range map[string]string{
		"l.hcl":  "listener \"a\" {\n port = 1\n}\nlistener \"b\" {\n port = 2\n}\nmain {\n debug = true\n}\n",
		"l.json": `{"listener": {"a": {"port": 1}, "b": {"port": 2}}, "main": {"debug": true}}`,
	} {
		var got withLabels
		if diags := decodeFile(name, []byte(src), &got); diags.HasErrors() {
			t.Fatalf("%s: %v", name, diagErrors(diags))
		}
		if len(got.Listeners) != 2 || *got.Listeners[0] != (labelled{"a", 1}) || *got.Listeners[1] != (labelled{"b", 2}) ||
			got.Main.Debug == nil || !*got.Main.Debug {
			t.Errorf("%s: got listeners %v main %+v", name, got.Listeners, got.Main)
		}
	}
}

// Every bad input is reported as file:line and names the key.
func TestDecode_BadInputNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, file, src string
		target          any
		want            []string
	}{
		{"unknown key", "u.hcl", "retry_max = 1\nnode_nme = \"x\"\n", &fileConfig{},
			[]string{`u.hcl:2: Unsupported argument`, `"node_nme"`, `Did you mean "node_name"?`}},
		{"unknown key json", "u.json", "{\n\"tagz\": {}\n}", &fileConfig{},
			[]string{`u.json:2:`, `"tagz"`, `Did you mean "tags"?`}},
		{"unknown key in block", "b.hcl", "dns {\n max_answer = 3\n}\n", &fileConfig{},
			[]string{`b.hcl:2: Unsupported argument`, `"max_answer"`}},
		{"wrong type", "w.hcl", "node_name = \"a\"\nretry_max = \"many\"\n", &fileConfig{},
			[]string{`w.hcl:2: retry_max: a number is required`}},
		{"wrong type json", "w.json", "{\n\"retry_max\": \"many\"\n}", &fileConfig{},
			[]string{`w.json:2: retry_max: a number is required`}},
		{"string for list", "j.hcl", "join = \"a\"\n", &fileConfig{},
			[]string{`j.hcl:1: join: list of string required`}},
		{"not a whole number", "f.hcl", "retry_max = 1.5\n", &fileConfig{},
			[]string{`f.hcl:1: retry_max: value must be a whole number`}},
		{"wrong type nested", "n.hcl", "service {\n name = \"w\"\n port = 80\n check {\n  header = { X = \"v\" }\n }\n}\n", &fileConfig{},
			[]string{`n.hcl:5: service[0].check[0].header: element "X": list of string required`}},
		{"null required", "r.hcl", "template {\n source = null\n destination = \"d\"\n}\n", &fileConfig{},
			[]string{`r.hcl:2: template[0].source: null value is not allowed`}},
		{"missing required", "m.hcl", "service {\n port = 80\n}\n", &fileConfig{},
			[]string{`m.hcl:1: Missing required argument`, `"name"`}},
		{"missing required json", "m.json", `{"service": {"port": 80}}`, &fileConfig{},
			[]string{`m.json:1: Missing required argument`, `"name"`}},
		{"duplicate block", "d.hcl", "dns {\n}\ndns {\n}\n", &fileConfig{},
			[]string{`d.hcl:3: Duplicate dns block`, `d.hcl:1`}},
		{"duplicate nested block", "d.hcl", "template {\n source = \"s\"\n destination = \"d\"\n wait {\n }\n wait {\n }\n}\n", &fileConfig{},
			[]string{`d.hcl:6: Duplicate template[0].wait block`}},
		{"duplicate attribute", "a.hcl", "node_name = \"a\"\nnode_name = \"b\"\n", &fileConfig{},
			[]string{`a.hcl:2: Attribute redefined`, `"node_name"`}},
		{"block as attribute", "ba.hcl", "mdns = { interface = \"eth0\" }\n", &fileConfig{},
			[]string{`ba.hcl:1: Unsupported argument`, `"mdns"`, `block of type "mdns"`}},
		{"attribute as block", "ab.hcl", "node_name {\n}\n", &fileConfig{},
			[]string{`ab.hcl:1: Unsupported block type`, `"node_name"`, `argument "node_name"`}},
		{"label not expected", "l.hcl", "service \"web\" {\n name = \"web\"\n port = 80\n}\n", &fileConfig{},
			[]string{`l.hcl:1: Extraneous label for service`}},
		{"missing label", "ml.hcl", "listener {\n port = 1\n}\nmain {\n}\n", &withLabels{},
			[]string{`ml.hcl:1: Missing name for listener`}},
		{"missing block", "mb.hcl", "listener \"a\" {\n port = 1\n}\n", &withLabels{},
			[]string{`mb.hcl:`, `Missing main block`}},
		{"variable", "v.hcl", "node_name = var.x\n", &fileConfig{},
			[]string{`v.hcl:1: Variables not allowed`}},
		{"syntax", "s.json", `{"node_name": }`, &fileConfig{},
			[]string{`s.json:1: Missing JSON value`}},
		{"suffix", "x.yaml", "node_name: a\n", &fileConfig{},
			[]string{`Unsupported file format`, `x.yaml`, `".yaml"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			diags := decodeFile(tc.file, []byte(tc.src), tc.target)
			if !diags.HasErrors() {
				t.Fatalf("decoded %q, want an error", tc.src)
			}
			msg := diagErrors(diags).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("got error %q, want it to contain %q", msg, w)
				}
			}
		})
	}
}

// A variable gives one error, not a second about the unknown value it
// left behind.
func TestDecode_OneErrorPerProblem(t *testing.T) {
	diags := decodeFile("v.hcl", []byte("node_name = var.x\n"), &fileConfig{})
	if len(diags) != 1 {
		t.Errorf("got %d diagnostics (%v), want 1", len(diags), diagErrors(diags))
	}
}

// BenchmarkDecodeFile_Examples decodes every file of examples/config, the
// work each agent start and shoal validate do per file.
func BenchmarkDecodeFile_Examples(b *testing.B) {
	files, err := filepath.Glob("../../../../examples/config/*.hcl")
	if err != nil || len(files) == 0 {
		b.Fatalf("examples/config: %v, %d files", err, len(files))
	}
	srcs := make([][]byte, len(files))
	for i, f := range files {
		if srcs[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, src := range srcs {
			var fc fileConfig
			if diags := decodeFile(files[i], src, &fc); diags.HasErrors() {
				b.Fatal(diagErrors(diags))
			}
		}
	}
}
