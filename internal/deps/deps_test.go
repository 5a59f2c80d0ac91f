// Package deps holds the test that keeps shoal's dependency direction:
// data flows memberlist -> node -> dns, render -> cmd, never back.
//
// It also holds the rules inside cmd/shoal/internal: only node imports
// memberlist (the agent tunes gossip through node.Tuning), and the API
// depends on small interfaces, not on the agent's config. A package named
// here that no longer exists fails the test, so a rename cannot silently
// drop its rule.
package deps

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/shoal-dev/shoal/"

const memberlist = "github.com/hashicorp/memberlist"

// allowed lists, per package (and its sub-packages), the non-standard
// imports it may name directly, as in DESIGN.md's layout table.
var allowed = map[string][]string{
	"node": {memberlist, "github.com/hashicorp/serf/coordinate", module + "internal/atomicfile", module + "internal/debounce",
		// memberlist's own metrics library: node labels memberlist's metrics per node.
		"github.com/hashicorp/go-metrics"},
	"backends":  {module + "internal/procgroup", module + "internal/atomicfile"},
	"templates": {},
	"dns":       {module + "node", "github.com/miekg/dns", "golang.org/x/sys/unix"},
	"render":    {module + "node", module + "backends", module + "templates", module + "internal/debounce", module + "internal/atomicfile", "github.com/Masterminds/sprig/v3", "github.com/fsnotify/fsnotify"},
	"checks":    {module + "node", module + "internal/procgroup"},
	// The agent's local service registry: checks and node types, one
	// atomic write for its state file.
	"cmd/shoal/internal/services": {module + "checks", module + "node", module + "internal/atomicfile"},
	// Leaf helpers shared by the packages above: standard library only.
	"internal/procgroup":  {},
	"internal/debounce":   {},
	"internal/atomicfile": {},
	"internal/testutil":   {},
	// Prometheus exposition: go-metrics only for the sink memberlist
	// reports to.
	"internal/metrics": {"github.com/hashicorp/go-metrics"},

	// The agent's parts. agent, config and cli wire everything and are
	// not listed here; forbidden below keeps memberlist out of them.
	"cmd/shoal/internal/api": {module + "node", module + "cmd/shoal/internal/logging", module + "internal/metrics"},
	"cmd/shoal/internal/handlers": {module + "node", module + "internal/debounce", module + "internal/procgroup",
		module + "internal/metrics"},
	"cmd/shoal/internal/logging":   {},
	"cmd/shoal/internal/buildinfo": {},
}

// forbidden lists imports a package (and its sub-packages) must never
// name, for the packages the table above does not pin down.
var forbidden = map[string][]string{
	// Everything under cmd: the agent, its API, config and CLI.
	"cmd":                    {memberlist},
	"cmd/shoal/internal/api": {module + "cmd/shoal/internal/config"},
}

// imports returns the imports of pkg's non-test files, sub-packages
// included, and fails the test if pkg does not exist.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../../"+pkg+"/...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "matched no packages") {
		t.Errorf("go list %s: %v %s: the package this rule is for is gone; move the rule with it", pkg, err, stderr.String())
		return nil
	}
	return strings.Fields(string(out))
}

func matches(imp string, list []string) bool {
	for _, a := range list {
		if imp == a || strings.HasPrefix(imp, a+"/") {
			return true
		}
	}
	return false
}

func TestDependencyDirection(t *testing.T) {
	for pkg, allow := range allowed {
		for _, imp := range imports(t, pkg) {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") || strings.HasPrefix(imp, module+pkg) {
				continue // standard library, or the package itself
			}
			if !matches(imp, allow) {
				t.Errorf("%s imports %s, which DESIGN.md's layout does not allow", pkg, imp)
			}
		}
	}
}

func TestForbiddenImports(t *testing.T) {
	for pkg, deny := range forbidden {
		for _, imp := range imports(t, pkg) {
			if matches(imp, deny) {
				t.Errorf("%s imports %s: only node may use memberlist, and the API takes interfaces, not the config", pkg, imp)
			}
		}
	}
}
