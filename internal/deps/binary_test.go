package deps

import (
	"os/exec"
	"strings"
	"testing"
)

// notLinked lists packages the shoal binary must not link at all, through
// any import: each costs package init that every CLI call and agent start
// pays (README, issue 13).
var notLinked = []string{
	// The config decoder is shoal's own; gohcl (and hclsimple over it)
	// links hclwrite, and hclwrite go-cmp, ~1.9 ms of init.
	"github.com/hashicorp/hcl/v2/gohcl",
	"github.com/hashicorp/hcl/v2/hclsimple",
	"github.com/hashicorp/hcl/v2/hclwrite",
	"github.com/google/go-cmp",
	// Metrics exposition is shoal's own internal/metrics; the Prometheus
	// client library, its procfs and expfmt, client_model and protobuf
	// cost ~2 ms of init (tests may still parse the output with expfmt).
	"github.com/prometheus",
	"google.golang.org/protobuf",
}

func TestBinaryDoesNotLink(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/shoal").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if matches(pkg, notLinked) {
			t.Errorf("cmd/shoal links %s", pkg)
		}
	}
}
