package main_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

var rttLine = regexp.MustCompile(`^Estimated (\S+) <-> (\S+) rtt: ([0-9]+\.[0-9]{3}) ms\n$`)

// TestCLI_RTTAndReachability runs `shoal rtt` and `shoal reachability`
// against three agents on loopback. Loopback round trips are tiny and
// noisy, so the values are only checked for sanity here; node's
// TestCoordinates_AgreeWithSimulatedLatency checks agreement.
func TestCLI_RTTAndReachability(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "a", nil)
	b := startAgent(t, "b", nil, "-join", a.gossip)
	startAgent(t, "c", nil, "-join", a.gossip)
	a.waitStatus(map[string]string{"a": "alive", "b": "alive", "c": "alive"})

	// a estimates b <-> c once it has probed both.
	var out string
	testutil.WaitFor(t, 60*time.Second, func() error {
		r := shoal(t, a, "rtt", "b", "c")
		if r.code != 0 {
			return fmt.Errorf("shoal rtt b c: exit %d, stderr %q", r.code, r.stderr)
		}
		out = r.stdout
		return nil
	})
	m := rttLine.FindStringSubmatch(out)
	if m == nil || m[1] != "b" || m[2] != "c" {
		t.Fatalf("rtt b c: got %q, want \"Estimated b <-> c rtt: N.NNN ms\"", out)
	}
	if ms, _ := strconv.ParseFloat(m[3], 64); ms <= 0 || ms > 1000 {
		t.Errorf("rtt b c: %v ms on loopback, want between 0 and 1000", ms)
	}
	// One node: the other end is the agent itself.
	testutil.WaitFor(t, 60*time.Second, func() error {
		r := shoal(t, b, "rtt", "a")
		if m := rttLine.FindStringSubmatch(r.stdout); r.code != 0 || m == nil || m[1] != "a" || m[2] != "b" {
			return fmt.Errorf("shoal rtt a via b: exit %d, stdout %q, stderr %q; want an estimate a <-> b", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	var res struct {
		A, B  string
		RTTMs float64 `json:"rtt_ms"`
	}
	if err := json.Unmarshal([]byte(mustShoal(t, a, "rtt", "-format", "json", "c", "b")), &res); err != nil {
		t.Fatal(err)
	}
	if res.A != "c" || res.B != "b" || res.RTTMs <= 0 {
		t.Errorf("rtt -format json: got %+v, want c, b and a positive rtt_ms", res)
	}
	if r := shoal(t, a, "rtt", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, `no coordinate for node "nosuch"`) {
		t.Errorf("rtt nosuch: exit %d, stderr %q; want 1 and no coordinate", r.code, r.stderr)
	}
	if r := shoal(t, a, "rtt"); r.code != 2 {
		t.Errorf("rtt without a node: exit %d, want 2", r.code)
	}

	out = mustShoal(t, a, "reachability", "-verbose")
	for _, want := range []string{"Total members: 3, live members: 3\n", "Starting reachability test...\n",
		"\tAck from 'a'\n", "\tAck from 'b'\n", "\tAck from 'c'\n", "Query time: ", "Successfully contacted all live nodes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("reachability -verbose: %q missing from %q", want, out)
		}
	}
	var reach api.ReachabilityResponse
	if err := json.Unmarshal([]byte(mustShoal(t, b, "reachability", "-format", "json")), &reach); err != nil {
		t.Fatal(err)
	}
	if reach.Members != 3 || len(reach.Acked) != 3 || len(reach.Missing) != 0 {
		t.Errorf("reachability -format json: got %+v, want 3 members, 3 acks, none missing", reach)
	}
}
