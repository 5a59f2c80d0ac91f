//go:build linux

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binaries are the programs the harness runs inside namespaces.
type Binaries struct {
	Shoal string // the agent and CLI, built from this tree
	Tool  string // test/shoaltool
}

// ModuleRoot finds the directory holding go.mod, from the working directory
// up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles shoaltool and cmd/shoal into dir. SHOAL_TEST_BIN runs the
// harness against a prebuilt agent instead, e.g. one built from another
// branch or a release.
func Build(dir string) (Binaries, error) {
	var bin Binaries
	root, err := ModuleRoot()
	if err != nil {
		return bin, err
	}
	bin.Tool = filepath.Join(dir, "shoaltool")
	if err := goBuild(root, bin.Tool, "./test/shoaltool"); err != nil {
		return bin, err
	}
	if prebuilt := os.Getenv("SHOAL_TEST_BIN"); prebuilt != "" {
		bin.Shoal = prebuilt
		return bin, nil
	}
	bin.Shoal = filepath.Join(dir, "shoal")
	if err := goBuild(root, bin.Shoal, "./cmd/shoal"); err != nil {
		return bin, err
	}
	return bin, nil
}

func goBuild(root, out, pkg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}
