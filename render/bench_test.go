package render

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

func bigCluster(n int) *node.Snapshot {
	ms := make([]node.Member, 0, n+1)
	ms = append(ms, member("lb1", 0))
	for i := 1; i <= n; i++ {
		ms = append(ms, member(fmt.Sprintf("web%04d", i), i, svc("web", 8080, i%10, "v2")))
	}
	return snapshot("lb1", 1, ms...)
}

// BenchmarkRender1000 measures what every membership change costs a node
// fronting 1,000 backends with the built-in HAProxy template: build the data
// from the snapshot (injection checks included), render, and compare with
// the installed file. Goal: at most 10 ms.
func BenchmarkRender1000(b *testing.B) {
	snap := bigCluster(1000)
	tmpl, err := ParseTemplate(BuiltinPrefix + "haproxy")
	if err != nil {
		b.Fatal(err)
	}
	dest := filepath.Join(b.TempDir(), "haproxy.cfg")
	d := NewData(snap)
	d.Vars = map[string]string{}
	out, n, err := tmpl.Execute(d)
	if err != nil || n != 1000 {
		b.Fatalf("render: %d backends, %v", n, err)
	}
	if err := os.WriteFile(dest, out, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := NewData(snap)
		d.Vars = map[string]string{}
		out, _, err := tmpl.Execute(d)
		if err != nil {
			b.Fatal(err)
		}
		same, err := sameAsInstalled(dest, out)
		if err != nil || !same {
			b.Fatalf("compare: same=%v, %v", same, err)
		}
	}
}
