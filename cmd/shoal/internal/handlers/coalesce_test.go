package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/debounce"
	"github.com/shoal-dev/shoal/internal/debounce/debouncetest"
	"github.com/shoal-dev/shoal/internal/testutil"
	"github.com/shoal-dev/shoal/node"
)

func member(name string) node.Member {
	return node.Member{Name: name, Addr: net.ParseIP("127.0.0.1")}
}

func memberEvent(t node.EventType, names ...string) *node.MemberEvent {
	e := &node.MemberEvent{Type: t}
	for _, n := range names {
		e.Members = append(e.Members, member(n))
	}
	return e
}

// describe renders flushed events as "type:a,b type:c".
func describe(events []*node.MemberEvent) string {
	var parts []string
	for _, e := range events {
		var names []string
		for _, m := range e.Members {
			names = append(names, m.Name)
		}
		parts = append(parts, e.Type.String()+":"+strings.Join(names, ","))
	}
	return strings.Join(parts, " ")
}

// TestMemberBatch follows serf/coalesce_member.go: the newest event per
// member, one event per type, and a member left out when its newest event
// is the one it was last sent in (member-update always goes).
func TestMemberBatch(t *testing.T) {
	join, leave, failed, update, reap := node.EventMemberJoin, node.EventMemberLeave, node.EventMemberFailed, node.EventMemberUpdate, node.EventMemberReap
	for _, tc := range []struct {
		name    string
		batches [][]*node.MemberEvent // each inner slice is one batch
		want    []string              // what each batch flushes
	}{
		{"joins become one event, members by name",
			[][]*node.MemberEvent{{memberEvent(join, "c"), memberEvent(join, "a"), memberEvent(join, "b")}},
			[]string{"member-join:a,b,c"}},
		{"newest event per member wins",
			[][]*node.MemberEvent{{memberEvent(join, "a"), memberEvent(failed, "a")}},
			[]string{"member-failed:a"}},
		{"one event per type, in type order",
			[][]*node.MemberEvent{{memberEvent(failed, "x"), memberEvent(join, "b", "a"), memberEvent(leave, "y"), memberEvent(update, "u")}},
			[]string{"member-join:a,b member-leave:y member-failed:x member-update:u"}},
		{"a member sent in the same event again is left out",
			[][]*node.MemberEvent{{memberEvent(join, "a")}, {memberEvent(failed, "a"), memberEvent(join, "a"), memberEvent(join, "b")}},
			[]string{"member-join:a", "member-join:b"}},
		{"member-update is always sent",
			[][]*node.MemberEvent{{memberEvent(update, "a")}, {memberEvent(update, "a")}},
			[]string{"member-update:a", "member-update:a"}},
		{"after member-reap a name starts afresh",
			[][]*node.MemberEvent{{memberEvent(reap, "a")}, {memberEvent(reap, "a")}},
			[]string{"member-reap:a", "member-reap:a"}},
		{"an empty batch flushes nothing",
			[][]*node.MemberEvent{{memberEvent(join, "a")}, {memberEvent(join, "a")}},
			[]string{"member-join:a", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemberBatch(debounce.Window{Min: time.Second, Max: 3 * time.Second})
			now := time.Unix(0, 0)
			for i, batch := range tc.batches {
				for _, e := range batch {
					b.add(now, e)
				}
				if got := describe(b.flush()); got != tc.want[i] {
					t.Errorf("batch %d: got %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
	b := newMemberBatch(debounce.Window{})
	b.add(time.Unix(0, 0), memberEvent(join, "a", "b"))
	b.flush()
	b.add(time.Unix(0, 0), memberEvent(reap, "a", "b"))
	b.flush()
	if len(b.sent) != 0 || len(b.latest) != 0 {
		t.Errorf("after reaping everyone: %d sent, %d latest kept, want none", len(b.sent), len(b.latest))
	}
}

// recordScript appends each run's stdin and event type to a file.
func recordScript(t *testing.T) (Script, string) {
	out := filepath.Join(t.TempDir(), "runs")
	s, err := ParseScript(fmt.Sprintf(`cat >> %[1]s; echo "--$SERF_EVENT" >> %[1]s`, out))
	if err != nil {
		t.Fatal(err)
	}
	return s, out
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		b, _ := os.ReadFile(path)
		if string(b) != want {
			return fmt.Errorf("handler runs recorded %q, want %q", b, want)
		}
		return nil
	})
}

// batchingRunner is a Runner on a fake clock that batches member and
// health events (quiescent 1s, coalesce 3s), running recordScript's script,
// whose file is out.
func batchingRunner(t *testing.T) (r *Runner, clk *debouncetest.FakeClock, out string) {
	s, out := recordScript(t)
	clk = debouncetest.NewFakeClock()
	r = NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Timeout: 10 * time.Second,
		MemberQuiescentPeriod: time.Second, MemberCoalescePeriod: 3 * time.Second, Clock: clk})
	t.Cleanup(r.Close) // before the script's directory goes
	r.SetScripts([]Script{s})
	return r, clk, out
}

// TestRunner_BatchesMemberEvents: member events arriving close together
// run a script once per event type, one stdin line per member, once the
// quiescent period passed; a user event is not held.
func TestRunner_BatchesMemberEvents(t *testing.T) {
	r, clk, out := batchingRunner(t)

	r.Handle(memberEvent(node.EventMemberJoin, "n2"))
	clk.Advance(500 * time.Millisecond)
	r.Handle(memberEvent(node.EventMemberJoin, "n1"))
	r.Handle(memberEvent(node.EventMemberFailed, "n3"))
	r.coal.waitIdle()
	// A user event is not batched: it runs first, and shows that the
	// member events were held until then.
	r.Handle(&node.UserEvent{Name: "sentinel", Payload: []byte("s")})
	waitFile(t, out, "s\n--user\n")

	clk.Advance(time.Second)
	r.coal.waitIdle()
	waitFile(t, out, "s\n--user\n"+
		"n1\t127.0.0.1\t\t\nn2\t127.0.0.1\t\t\n--member-join\n"+
		"n3\t127.0.0.1\t\t\n--member-failed\n")
}

// TestRunner_CoalescePeriodCutsLongBursts: a member event every 900ms never
// leaves a quiet second, and the coalesce period still ends the batch.
func TestRunner_CoalescePeriodCutsLongBursts(t *testing.T) {
	r, clk, out := batchingRunner(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		r.Handle(memberEvent(node.EventMemberJoin, n))
		r.coal.waitIdle()
		clk.Advance(900 * time.Millisecond) // 3.6s in all: past the 3s cut
	}
	r.coal.waitIdle()
	waitFile(t, out, "a\t127.0.0.1\t\t\nb\t127.0.0.1\t\t\nc\t127.0.0.1\t\t\nd\t127.0.0.1\t\t\n--member-join\n")
}

// TestRunner_MemberBatchingOff: with a period of 0 every member event runs
// the script by itself, at once.
func TestRunner_MemberBatchingOff(t *testing.T) {
	r := NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Timeout: 10 * time.Second, MemberCoalescePeriod: 3 * time.Second})
	defer r.Close()
	s, out := recordScript(t)
	r.SetScripts([]Script{s})
	r.Handle(memberEvent(node.EventMemberJoin, "a"))
	r.Handle(memberEvent(node.EventMemberJoin, "b"))
	waitFile(t, out, "a\t127.0.0.1\t\t\n--member-join\nb\t127.0.0.1\t\t\n--member-join\n")
}
