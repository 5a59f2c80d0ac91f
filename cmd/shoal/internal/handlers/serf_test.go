package handlers

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/node"
)

// The golden bytes below are written from Serf's agent
// (cmd/serf/command/agent/invoke.go, v0.10):
//
//   - memberEventStdin: per member fmt "%s\t%s\t%s\t%s\n" of
//     eventClean(Name), Addr.String(), eventClean(Tags["role"]),
//     eventClean(strings.Join(name=value pairs, ",")); eventClean turns a
//     tab into `\t` and a newline into `\n`, nothing else;
//   - streamPayload: the payload, plus "\n" when it is not empty and does
//     not end with "\n";
//   - the environment: SERF_EVENT, SERF_SELF_NAME, SERF_SELF_ROLE, one
//     SERF_TAG_<KEY> per local tag with KEY = ToUpper(key) and every rune
//     outside [A-Z0-9_] replaced by "_", then SERF_USER_EVENT and
//     SERF_USER_LTIME (%d) for user events, SERF_QUERY_NAME and
//     SERF_QUERY_LTIME for queries. Nothing else.
//
// Serf writes tag pairs in map order; shoal's sorted order is the one
// these bytes pin.

func TestStdin_SerfBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event node.Event
		want  string
	}{
		{"member-join: two members, tags sorted, role also a tag",
			&node.MemberEvent{Type: node.EventMemberJoin, Members: []node.Member{
				{Name: "web-1", Addr: net.ParseIP("10.0.0.1"), Tags: map[string]string{"role": "web", "dc": "eu", "az": "b"}},
				{Name: "db-1", Addr: net.ParseIP("10.0.0.2"), Tags: map[string]string{"role": "db"}},
			}},
			"web-1\t10.0.0.1\tweb\taz=b,dc=eu,role=web\n" +
				"db-1\t10.0.0.2\tdb\trole=db\n"},
		{"member-failed: no tags, IPv6",
			&node.MemberEvent{Type: node.EventMemberFailed, Members: []node.Member{
				{Name: "n6", Addr: net.ParseIP("fd00::6")},
			}},
			"n6\tfd00::6\t\t\n"},
		{"tabs and newlines escaped in name, role and tags; ',' and '=' not",
			&node.MemberEvent{Type: node.EventMemberUpdate, Members: []node.Member{
				{Name: "a\tb", Addr: net.ParseIP("127.0.0.1"), Tags: map[string]string{"role": "x\ny", "k": "v=1,2\t3"}},
			}},
			"a\\tb\t127.0.0.1\tx\\ny\tk=v=1,2\\t3,role=x\\ny\n"},
		{"no address: net.IP's <nil>",
			&node.MemberEvent{Type: node.EventMemberReap, Members: []node.Member{{Name: "gone"}}},
			"gone\t<nil>\t\t\n"},
		{"user payload gets a newline", &node.UserEvent{Name: "deploy", Payload: []byte("v42")}, "v42\n"},
		{"user payload ending in a newline is kept", &node.UserEvent{Name: "deploy", Payload: []byte("v42\n")}, "v42\n"},
		{"user payload of lines gets one newline", &node.UserEvent{Name: "deploy", Payload: []byte("a\nb")}, "a\nb\n"},
		{"empty user payload stays empty", &node.UserEvent{Name: "deploy"}, ""},
		{"query payload gets a newline", &node.Query{Name: "load", Payload: []byte("how-busy")}, "how-busy\n"},
		{"empty query payload stays empty", &node.Query{Name: "load", Payload: []byte{}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Stdin(tc.event)); got != tc.want {
				t.Errorf("stdin: got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStdin_PayloadNotModified(t *testing.T) {
	buf := make([]byte, 3, 16)
	copy(buf, "abc")
	e := &node.UserEvent{Payload: buf}
	Stdin(e)
	if got := string(buf[:4]); got != "abc\x00" {
		t.Errorf("the event's payload array was written: %q", got)
	}
}

func TestEnv_SerfVariables(t *testing.T) {
	self := Self{Name: "lb-1", Tags: map[string]string{
		"role": "lb", "dc-name": "eu", "a.b": "1", "9lives": "yes", "ünï": "u", "Mixed_Case": "m",
	}}
	selfVars := []string{"SERF_SELF_NAME=lb-1", "SERF_SELF_ROLE=lb",
		"SERF_TAG_9LIVES=yes", "SERF_TAG_A_B=1", "SERF_TAG_DC_NAME=eu", "SERF_TAG_MIXED_CASE=m",
		"SERF_TAG_ROLE=lb", "SERF_TAG__N_=u"}
	for _, tc := range []struct {
		name  string
		event node.Event
		want  []string // Serf's variables, besides selfVars
	}{
		{"member-join", &node.MemberEvent{Type: node.EventMemberJoin}, []string{"SERF_EVENT=member-join"}},
		{"member-leave", &node.MemberEvent{Type: node.EventMemberLeave}, []string{"SERF_EVENT=member-leave"}},
		{"member-failed", &node.MemberEvent{Type: node.EventMemberFailed}, []string{"SERF_EVENT=member-failed"}},
		{"member-update", &node.MemberEvent{Type: node.EventMemberUpdate}, []string{"SERF_EVENT=member-update"}},
		{"member-reap", &node.MemberEvent{Type: node.EventMemberReap}, []string{"SERF_EVENT=member-reap"}},
		{"user", &node.UserEvent{Name: "deploy", LTime: 42},
			[]string{"SERF_EVENT=user", "SERF_USER_EVENT=deploy", "SERF_USER_LTIME=42"}},
		{"query", &node.Query{Name: "load", LTime: 7},
			[]string{"SERF_EVENT=query", "SERF_QUERY_NAME=load", "SERF_QUERY_LTIME=7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := Env(self, tc.event)
			var serf, shoal []string
			for _, v := range env {
				if rest, ok := strings.CutPrefix(v, "SHOAL_"); ok {
					shoal = append(shoal, "SERF_"+rest)
				} else {
					serf = append(serf, v)
				}
			}
			want := slices.Concat(tc.want, selfVars)
			slices.Sort(want)
			slices.Sort(serf)
			slices.Sort(shoal)
			if !slices.Equal(serf, want) {
				t.Errorf("SERF_ variables:\ngot  %q\nwant %q", serf, want)
			}
			if !slices.Equal(shoal, want) {
				t.Errorf("SHOAL_ twins:\ngot  %q\nwant %q", shoal, want)
			}
		})
	}
}

// Two tag keys that sanitise to one name: the later key in sorted order
// is set last, so exec keeps its value, every run.
func TestEnv_SanitisedKeyClashIsStable(t *testing.T) {
	env := Env(Self{Tags: map[string]string{"dc-a": "1", "dc.a": "2"}}, &node.UserEvent{})
	var last string
	for _, v := range env {
		if val, ok := strings.CutPrefix(v, "SERF_TAG_DC_A="); ok {
			last = val
		}
	}
	if last != "2" {
		t.Errorf("last SERF_TAG_DC_A: got %q, want 2 (dc.a sorts after dc-a)", last)
	}
}
