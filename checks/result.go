package checks

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/node"
)

// MaxOutput is how much of a check's output (an HTTP body, a script's
// stdout and stderr) is read and kept. Reading stops there: a target that
// streams a gigabyte costs the agent this much.
const MaxOutput = 4096

// MaxNote is the longest Note, the part of a result that is gossiped.
const MaxNote = 256

// Result is a check's current state: what is gossiped (CheckState), the
// output kept locally, and when it last changed.
type Result struct {
	node.CheckState
	// Output is the last output that set the status, at most MaxOutput
	// bytes (plus a truncation marker).
	Output string
	// Updated is when Status, Note or Output last changed.
	Updated time.Time
}

// probe is one run of a periodic check: a status, a short note and the
// output, before thresholds apply.
type probe struct {
	status node.Health
	note   string
	output string
}

// cleanNote makes s a Note: one line, no control characters, valid UTF-8,
// at most MaxNote bytes.
func cleanNote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if b.Len()+utf8.RuneLen(r) > MaxNote {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// firstLine is the first non-blank line of out, for a note.
func firstLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// boundedBuffer keeps the first MaxOutput bytes written to it and counts
// the rest, so a chatty script cannot grow the agent's memory. exec gives
// the same writer for stdout and stderr one pipe, so Write is never
// called concurrently.
type boundedBuffer struct {
	b     []byte
	total int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.total += len(p)
	if room := MaxOutput - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string {
	return truncated(w.b, w.total > len(w.b))
}

// truncated is kept output as text, marked when more was cut off.
func truncated(kept []byte, cut bool) string {
	s := strings.ToValidUTF8(string(kept), "\uFFFD")
	if cut {
		return fmt.Sprintf("%s\n... (output truncated: kept the first %d bytes)", s, len(kept))
	}
	return s
}
