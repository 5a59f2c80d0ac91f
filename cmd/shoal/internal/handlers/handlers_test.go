package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

func TestParseScript(t *testing.T) {
	cases := []struct {
		spec    string
		filters []Filter
		cmd     string
	}{
		{"./h.sh", []Filter{{Event: "*"}}, "./h.sh"},
		{"member-join,member-leave=./h.sh a=b", []Filter{{Event: "member-join"}, {Event: "member-leave"}}, "./h.sh a=b"},
		{"user:deploy=./d.sh", []Filter{{Event: "user", Name: "deploy"}}, "./d.sh"},
		{"query:load,query=./q.sh", []Filter{{Event: "query", Name: "load"}, {Event: "query"}}, "./q.sh"},
	}
	for _, c := range cases {
		s, err := ParseScript(c.spec)
		if err != nil {
			t.Errorf("ParseScript(%q): %v", c.spec, err)
			continue
		}
		if !slices.Equal(s.Filters, c.filters) || s.Command != c.cmd {
			t.Errorf("ParseScript(%q): got %+v %q, want %+v %q", c.spec, s.Filters, s.Command, c.filters, c.cmd)
		}
	}
	for _, bad := range []string{"member-jion=./x", "user:=./x", "member-join=", ""} {
		if _, err := ParseScript(bad); err == nil {
			t.Errorf("ParseScript(%q): got no error", bad)
		}
	}
}

func TestFilter_Match(t *testing.T) {
	join := &node.MemberEvent{Type: node.EventMemberJoin}
	deploy := &node.UserEvent{Name: "deploy"}
	other := &node.UserEvent{Name: "other"}
	load := &node.Query{Name: "load"}
	s, _ := ParseScript("member-join,user:deploy,query=./x")
	for e, want := range map[node.Event]bool{join: true, deploy: true, other: false, load: true, &node.MemberEvent{Type: node.EventMemberFailed}: false} {
		if got := s.Match(e); got != want {
			t.Errorf("Match(%s): got %v, want %v", e, got, want)
		}
	}
}

func TestRunner_TimeoutKillsAndDoesNotDelayOthers(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "fast")
	grandchild := filepath.Join(dir, "grandchild")
	r := NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Timeout: 2 * time.Second, Queue: 4})
	defer r.Close()
	slow, _ := ParseScript(fmt.Sprintf("user=sleep 60 & echo $! > %s; wait", grandchild))
	fast, _ := ParseScript(fmt.Sprintf(`user=cat >> %s; echo " $SERF_USER_EVENT" >> %s`, marker, marker))
	r.SetScripts([]Script{slow, fast})

	start := time.Now()
	r.Handle(&node.UserEvent{Name: "one", Payload: []byte("a")})
	r.Handle(&node.UserEvent{Name: "two", Payload: []byte("b")})
	testutil.WaitFor(t, 20*time.Second, func() error {
		b, _ := os.ReadFile(marker)
		if string(b) != "a\n one\nb\n two\n" {
			return fmt.Errorf("fast handler wrote %q, want both events", b)
		}
		return nil
	})
	// The fast handler finished both events while the slow one still
	// sleeps: its queue is its own.
	if d := time.Since(start); d > 2*time.Second {
		t.Logf("fast handler took %s (loaded machine?)", d)
	}
	// The slow handler's background sleep is killed with its process group.
	testutil.WaitFor(t, 30*time.Second, func() error {
		b, err := os.ReadFile(grandchild)
		if err != nil {
			return err
		}
		var pid int
		fmt.Sscan(strings.TrimSpace(string(b)), &pid)
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if !strings.Contains(string(st), ") Z ") {
				return fmt.Errorf("sleep %d still running", pid)
			}
		}
		return nil
	})
	if got := testutilCounter(r, "timeout"); got < 1 {
		t.Errorf("got %v timeouts counted, want at least 1", got)
	}
}

// stdout and stderr are one stream, in the order the script wrote them,
// as in Serf; the first bytes up to the limit are kept, and the count.
func TestInvoke_OutputIsStdoutAndStderr(t *testing.T) {
	res := invoke(t.Context(), `printf out; printf ERR >&2; printf more`, nil, nil, 10*time.Second, 64)
	if string(res.output) != "outERRmore" || res.size != 10 || res.err != nil {
		t.Errorf("got output %q size %d err %v, want outERRmore, 10, nil", res.output, res.size, res.err)
	}
	res = invoke(t.Context(), `printf '0123456789'; echo oops >&2; exit 3`, nil, nil, 10*time.Second, 4)
	if string(res.output) != "0123" || res.size != 15 {
		t.Errorf("capped: got %q size %d, want 0123 size 15", res.output, res.size)
	}
	if res.exitCode != 3 || res.tail != "0123456789oops" || res.err == nil {
		t.Errorf("got exit %d tail %q err %v, want 3, the whole output, an error", res.exitCode, res.tail, res.err)
	}
}

// The payload's added newline is what lets the shell's read see the line.
func TestInvoke_ReadGetsThePayload(t *testing.T) {
	e := &node.UserEvent{Name: "deploy", Payload: []byte("v42")}
	res := invoke(t.Context(), `if read -r line; then printf 'read %s' "$line"; else printf 'read failed'; fi`, nil, Stdin(e), 10*time.Second, 64)
	if string(res.output) != "read v42" {
		t.Errorf("got %q, want read v42", res.output)
	}
}
