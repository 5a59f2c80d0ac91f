package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// safe makes text from other machines (member names, tags, payloads, log
// attributes) harmless on a terminal: control characters (ESC, newline,
// tab, C1 controls such as the 8-bit CSI), other non-printing runes such
// as bidi overrides, and invalid UTF-8 are written as Go escapes (\x1b,
// \n, \u202e, \xff). Printable text, any script, passes unchanged, a
// backslash too (hints such as echo "[\"KEY\"]" stay copyable), so a
// remote can print the four characters \x1b but never the byte. Every text
// printer of the client verbs goes through it; JSON output is left to the
// encoder.
func safe(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// isSafe is safe's fast path: printable ASCII.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// safeLines is safe for multi-line text shown as such (a rendered config):
// newlines and tabs stay, every line is made safe.
func safeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		cells := strings.Split(l, "\t")
		for j, c := range cells {
			cells[j] = safe(c)
		}
		lines[i] = strings.Join(cells, "\t")
	}
	return strings.Join(lines, "\n")
}
