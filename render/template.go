package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"

	"github.com/shoal-dev/shoal/templates"
)

// BuiltinPrefix marks a template source that ships in the binary:
// "builtin:haproxy" or "builtin:nginx".
const BuiltinPrefix = "builtin:"

// Template is a parsed template. It is parsed once and executed for every
// render; Reload re-reads an edited source and keeps the last good parse when
// the new text does not parse.
type Template struct {
	source string // "builtin:NAME" or a file path
	path   string // absolute file path, "" for a built-in

	mu   sync.Mutex
	tmpl *template.Template
	cur  *execState // set while executing; read by the template functions
	// reads is which member tags tmpl can read (reads.go).
	reads tagReads
	size  int // last output size, to size the next buffer
}

// ParseTemplate loads and parses the template at source.
func ParseTemplate(source string) (*Template, error) {
	t := &Template{source: source}
	if !strings.HasPrefix(source, BuiltinPrefix) {
		abs, err := filepath.Abs(source)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", source, err)
		}
		t.path = abs
	}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Source returns the source the template was loaded from.
func (t *Template) Source() string { return t.source }

// Path returns the template's absolute file path, or "" for a built-in.
func (t *Template) Path() string { return t.path }

// Reload re-reads and re-parses the source. On error the last good parse
// stays in use and the error says why the new text was refused.
func (t *Template) Reload() error {
	var text []byte
	var err error
	if t.path == "" {
		text, err = templates.Get(strings.TrimPrefix(t.source, BuiltinPrefix))
	} else {
		text, err = os.ReadFile(t.path)
	}
	if err != nil {
		return fmt.Errorf("template %s: %w", t.source, err)
	}
	if len(bytes.TrimSpace(text)) == 0 {
		// An editor that saves in place truncates first; an empty template
		// would render an empty config, so wait for the real text.
		return fmt.Errorf("template %s: file is empty", t.source)
	}
	tmpl := template.New(filepath.Base(t.source)).Option("missingkey=error")
	tmpl, err = tmpl.Funcs(funcMap(&t.cur)).Parse(string(text))
	if err != nil {
		return fmt.Errorf("template %s: parse: %w", t.source, err)
	}
	reads := tagReadsOf(tmpl)
	t.mu.Lock()
	t.tmpl, t.reads = tmpl, reads
	t.mu.Unlock()
	return nil
}

// tagReads returns which member tags the current parse can read.
func (t *Template) tagReads() tagReads {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reads
}

// Execute renders the template with d and returns the output and the number
// of backends (distinct service instances returned by the service and
// services functions) it used.
func (t *Template) Execute(d *Data) ([]byte, int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &execState{data: d, used: make([]bool, d.instances)}
	t.cur = st
	defer func() { t.cur = nil }()
	buf := bytes.NewBuffer(make([]byte, 0, t.size+t.size/8+512))
	if err := t.tmpl.Execute(buf, d); err != nil {
		return nil, 0, fmt.Errorf("template %s: %w", t.source, err)
	}
	t.size = buf.Len()
	return buf.Bytes(), st.n, nil
}
