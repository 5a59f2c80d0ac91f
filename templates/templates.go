// Package templates holds the configuration templates that ship inside the
// shoal binary. They are data only; package render parses and renders them,
// and addresses them as "builtin:<name>".
package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.tmpl
var files embed.FS

const suffix = ".tmpl"

// Get returns the built-in template called name ("haproxy", "nginx").
func Get(name string) ([]byte, error) {
	b, err := fs.ReadFile(files, name+suffix)
	if err != nil {
		return nil, fmt.Errorf("no built-in template %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the built-in templates, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), suffix))
	}
	sort.Strings(names)
	return names
}
