package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

func TestSafe(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"", ""},
		{"role=web,dc=eu", "role=web,dc=eu"},
		{"café Ωμέγα 東京", "café Ωμέγα 東京"},                   // printable text of any script stays
		{`C:\path`, `C:\path`},                               // backslashes stay
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\a`}, // ESC, OSC, BEL
		{"a\nb\rc\td", `a\nb\rc\td`},                         // line and column breaks
		{"\x00\x7f", `\x00\x7f`},                             // NUL, DEL
		{"\u009b31m", `\u009b31m`},                           // C1 CSI, an escape on 8-bit terminals
		{"abc\u202etxt.exe", `abc\u202etxt.exe`},             // bidi override
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},               // invalid UTF-8, byte by byte
		{"\xe2\x82", `\xe2\x82`},                             // truncated rune
		{"ok\u00a0nbsp", `ok\u00a0nbsp`},                     // non-ASCII space is not IsPrint
	} {
		if got := safe(c.in); got != c.want {
			t.Errorf("safe(%q): got %q, want %q", c.in, got, c.want)
		}
		for _, b := range []byte(safe(c.in)) {
			if b < 0x20 || b == 0x7f {
				t.Errorf("safe(%q) still holds control byte %#x", c.in, b)
			}
		}
	}
	if got, want := safeLines("a\tb\n\x1b[1mc\n"), "a\tb\n\\x1b[1mc\n"; got != want {
		t.Errorf("safeLines: got %q, want %q", got, want)
	}
}

// TestPrinters_EscapeRemoteText runs the text printers over remote data
// carrying terminal escapes: none reaches the output, while JSON output
// keeps the data as it is.
func TestPrinters_EscapeRemoteText(t *testing.T) {
	evil := "x\x1b]0;pwned\x07\x1b[2J\u009b1m\xff"
	var out bytes.Buffer
	e := env{stdout: &out, stderr: &out}
	printMonitorLine(e, api.MonitorLine{Type: "log", Time: time.Now(), Level: "INFO", Message: evil, Attrs: map[string]any{evil: evil}})
	printMonitorLine(e, api.MonitorLine{Type: "event", Time: time.Now(), Event: "member-join", Members: []string{evil}})
	printMonitorLine(e, api.MonitorLine{Type: "event", Time: time.Now(), Event: "user", Name: evil, Payload: evil})
	printMembers(e.stdout, []api.Member{{Name: evil, Addr: "127.0.0.1", Status: "alive", Tags: map[string]string{evil: evil},
		Services: []api.Service{{Name: evil, Tags: []string{evil}}}}}, true)
	printInfo(e, api.Info{Name: evil, Tags: map[string]string{"k": evil}, Handlers: []string{evil}})
	printQueryLine(e, api.QueryLine{Type: "ack", From: evil})
	printQueryLine(e, api.QueryLine{Type: "response", From: evil, Payload: evil})
	printRenderStatus(e, []api.TemplateStatus{{Name: "t", Error: evil, Excluded: []api.Exclusion{{Member: evil, Reason: evil}}}})
	fail(e, "members", &textErr{evil})
	got := out.String()
	raw := strings.ContainsAny(got, "\x1b\x07\u009b") || strings.IndexByte(got, 0xff) >= 0
	if raw || !strings.Contains(got, `x\x1b]0;pwned\a\x1b[2J\u009b1m\xff`) {
		t.Errorf("printers let control bytes through or lost the text:\n%q", got)
	}

	out.Reset()
	if code := printJSON(e, api.Member{Name: evil}); code != exitOK {
		t.Fatal("printJSON failed")
	}
	var m api.Member
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.Name != strings.ToValidUTF8(evil, "\ufffd") {
		t.Errorf("JSON output: got %q (%v), want the name as encoding/json carries it", m.Name, err)
	}
}

type textErr struct{ s string }

func (e *textErr) Error() string { return e.s }
