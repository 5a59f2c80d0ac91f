package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net"
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

func TestEnvAndStdin_SerfCompatible(t *testing.T) {
	self := Self{Name: "n1", Tags: map[string]string{"role": "web", "dc-name": "eu"}}
	ev := &node.MemberEvent{Type: node.EventMemberJoin, Members: []node.Member{
		{Name: "n2", Addr: net.ParseIP("127.0.0.2"), Tags: map[string]string{"role": "db", "b": "2", "a": "1"}},
		{Name: "n\t3", Addr: net.ParseIP("127.0.0.3")},
	}}
	env := Env(self, ev)
	for _, want := range []string{"SERF_EVENT=member-join", "SHOAL_EVENT=member-join", "SERF_SELF_NAME=n1",
		"SERF_SELF_ROLE=web", "SERF_TAG_ROLE=web", "SERF_TAG_DC_NAME=eu", "SHOAL_TAG_DC_NAME=eu"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
		}
	}
	got := string(Stdin(ev))
	want := "n2\t127.0.0.2\tdb\ta=1,b=2,role=db\nn\\t3\t127.0.0.3\t\t\n"
	if got != want {
		t.Errorf("stdin: got %q, want %q", got, want)
	}
	ue := &node.UserEvent{Name: "deploy", LTime: 7, Payload: []byte("v2")}
	env = Env(self, ue)
	for _, want := range []string{"SERF_EVENT=user", "SERF_USER_EVENT=deploy", "SERF_USER_LTIME=7", "SHOAL_USER_LTIME=7"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
		}
	}
	if string(Stdin(ue)) != "v2" {
		t.Errorf("user stdin: got %q, want v2", Stdin(ue))
	}
	q := &node.Query{Name: "load", LTime: 9, Payload: []byte("p")}
	env = Env(self, q)
	for _, want := range []string{"SERF_EVENT=query", "SERF_QUERY_NAME=load", "SERF_QUERY_LTIME=9"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
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
		if string(b) != "a one\nb two\n" {
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

func TestInvoke_StdoutCappedAndStderrTail(t *testing.T) {
	res := invoke(t.Context(), `printf '0123456789'; echo oops >&2; exit 3`, nil, nil, 10*time.Second, 4)
	if string(res.stdout) != "0123" || !res.truncated {
		t.Errorf("stdout: got %q truncated=%v, want 0123 truncated", res.stdout, res.truncated)
	}
	if res.exitCode != 3 || res.stderr != "oops" || res.err == nil {
		t.Errorf("got exit %d stderr %q err %v, want 3 oops error", res.exitCode, res.stderr, res.err)
	}
}
