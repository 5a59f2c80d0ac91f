package cli

import (
	"bytes"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

// The golden outputs below are what `serf members` prints for the same
// members, worked out from Serf's code (cmd/serf/command/members.go and
// the columnize library it uses): cells joined by two spaces, each column
// but a row's last padded to its widest cell, no header, the whole output
// trimmed and ended by one newline. Serf prints tags in map order; shoal
// sorts them, which is one of the orders Serf can print.
var goldenMembers = []api.Member{
	{Name: "a", Addr: "127.0.0.1", Port: 7946, Status: "alive", Tags: map[string]string{"zone": "eu-1", "role": "web"}, Protocol: [3]uint8{1, 5, 2}},
	{Name: "bb-long", Addr: "127.0.0.1", Port: 17946, Status: "failed", Tags: map[string]string{}, Protocol: [3]uint8{1, 5, 2}},
	{Name: "c", Addr: "::1", Port: 7946, Status: "left", Tags: map[string]string{"role": "db"}, Protocol: [3]uint8{1, 5, 2},
		Services: []api.Service{{Name: "pg", Port: 5432, Tags: []string{"primary"}}}},
}

func TestPrintMembers_SerfLayout(t *testing.T) {
	cases := []struct {
		name     string
		members  []api.Member
		detailed bool
		want     string
	}{
		{"plain", goldenMembers, false, "" +
			"a        127.0.0.1:7946   alive   role=web,zone=eu-1\n" +
			"bb-long  127.0.0.1:17946  failed  \n" +
			"c        [::1]:7946       left    role=db\n"},
		{"empty tags on the last line are trimmed, as in Serf", goldenMembers[:2], false, "" +
			"a        127.0.0.1:7946   alive   role=web,zone=eu-1\n" +
			"bb-long  127.0.0.1:17946  failed\n"},
		{"detailed", goldenMembers[:2], true, "" +
			"a        127.0.0.1:7946   alive   role=web,zone=eu-1  Protocol Version: 2  Available Protocol Range: [1, 5]\n" +
			"bb-long  127.0.0.1:17946  failed                      Protocol Version: 2  Available Protocol Range: [1, 5]\n"},
		{"detailed with services, which Serf has not, last", goldenMembers[1:], true, "" +
			"bb-long  127.0.0.1:17946  failed           Protocol Version: 2  Available Protocol Range: [1, 5]\n" +
			"c        [::1]:7946       left    role=db  Protocol Version: 2  Available Protocol Range: [1, 5]  Services: pg:5432:primary\n"},
		{"no members: one empty line, as Serf prints", nil, false, "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			printMembers(&out, c.members, c.detailed)
			if got := out.String(); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}
