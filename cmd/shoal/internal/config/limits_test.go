package config

import (
	"strings"
	"testing"
)

func TestLoad_SizeLimits(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.hcl", `
query_size_limit          = 2048
query_response_size_limit = 9216
user_event_size_limit     = 1
`)
	c, err := load(t, "-config-file", good)
	if err != nil {
		t.Fatal(err)
	}
	if c.QuerySizeLimit != 2048 || c.QueryResponseSizeLimit != 9216 || c.UserEventSizeLimit != 1 {
		t.Errorf("got limits %d, %d, %d; want 2048, 9216, 1", c.QuerySizeLimit, c.QueryResponseSizeLimit, c.UserEventSizeLimit)
	}

	bad := write(t, dir, "bad.json", `{"query_size_limit": 0, "query_response_size_limit": 9217, "user_event_size_limit": -5}`)
	_, err = load(t, "-config-file", bad)
	if err == nil {
		t.Fatal("out-of-range limits accepted")
	}
	for _, want := range []string{
		"query_size_limit: 0 bytes is outside 1-9216",
		"query_response_size_limit: 9217 bytes is outside 1-9216",
		"user_event_size_limit: -5 bytes is outside 1-9216",
	} {
		if !strings.Contains(err.Error(), bad+": "+want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// Eager push of user events is on by default; 0 is gossip alone, as in
// Serf, and a rate past the range is refused with the key named.
func TestLoad_EventPushRate(t *testing.T) {
	dir := t.TempDir()
	c, err := load(t)
	if err != nil || c.Gossip.EventPushRate != 10 {
		t.Fatalf("default: got %d (%v), want 10", c.Gossip.EventPushRate, err)
	}
	off := write(t, dir, "off.hcl", "gossip {\n  event_push_rate = 0\n}\n")
	if c, err = load(t, "-config-file", off); err != nil || c.Gossip.EventPushRate != 0 {
		t.Fatalf("event_push_rate = 0: got %d (%v)", c.Gossip.EventPushRate, err)
	}
	bad := write(t, dir, "bad.hcl", "gossip {\n  event_push_rate = 5000\n}\n")
	if _, err = load(t, "-config-file", bad); err == nil || !strings.Contains(err.Error(), "gossip.event_push_rate") {
		t.Fatalf("event_push_rate = 5000: got %v, want an error naming gossip.event_push_rate", err)
	}
}
