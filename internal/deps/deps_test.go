// Package deps holds the test that keeps shoal's dependency direction:
// data flows memberlist -> node -> dns, render -> cmd, never back.
package deps

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/shoal-dev/shoal/"

// allowed lists, per package (and its sub-packages), the non-standard
// imports it may name directly, as in DESIGN.md's layout table.
var allowed = map[string][]string{
	"node":      {"github.com/hashicorp/memberlist", "github.com/hashicorp/serf/coordinate", module + "internal/atomicfile", module + "internal/debounce"},
	"backends":  {module + "internal/procgroup"},
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
}

func TestDependencyDirection(t *testing.T) {
	for pkg, allow := range allowed {
		if _, err := os.Stat("../../" + pkg); err != nil {
			continue // package not written yet
		}
		// Imports of the package's non-test files, sub-packages included.
		cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../../"+pkg+"/...")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if strings.Contains(stderr.String(), "matched no packages") {
			continue // package not written yet
		}
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.String())
		}
		for _, imp := range strings.Fields(string(out)) {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") || strings.HasPrefix(imp, module+pkg) {
				continue // standard library, or the package itself
			}
			ok := false
			for _, a := range allow {
				if imp == a || strings.HasPrefix(imp, a+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which DESIGN.md's layout does not allow", pkg, imp)
			}
		}
	}
}
