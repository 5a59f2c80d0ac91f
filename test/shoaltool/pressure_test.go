package main

import (
	"testing"
	"time"
)

func TestLoopbackAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		listen bool
		ok     bool
	}{
		{"127.0.0.1:8600", false, true},
		{"127.0.0.2:53", false, true},
		{"[::1]:53", false, true},
		{"[::ffff:127.0.0.1]:53", false, true},
		{"127.0.0.1:0", true, true},
		{"127.0.0.1:0", false, false}, // not a target
		{"10.0.0.1:53", false, false},
		{"8.8.8.8:53", false, false},
		{"0.0.0.0:53", true, false}, // would listen beyond loopback
		{"[::]:53", false, false},
		{"localhost:53", false, false}, // names could resolve anywhere
		{"127.0.0.1", false, false},
		{"", false, false},
	} {
		_, err := loopbackAddr("dns", tc.addr, tc.listen)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackAddr(%q, listen=%v): got err %v, want ok=%v", tc.addr, tc.listen, err, tc.ok)
		}
	}
}

func TestSummarize_FailuresCountAsSlowest(t *testing.T) {
	var samples []sample
	for i := range 98 {
		samples = append(samples, sample{took: time.Duration(i+1) * time.Millisecond})
	}
	samples = append(samples, sample{fail: "timeout"}, sample{fail: "refused"})
	s := summarize(samples)
	if s.sent != 100 || s.failed != 2 {
		t.Fatalf("got sent %d failed %d, want 100 and 2", s.sent, s.failed)
	}
	if s.p50 != 50*time.Millisecond {
		t.Errorf("got p50 %v, want 50ms", s.p50)
	}
	if s.p99 != -1 {
		t.Errorf("got p99 %v, want -1 (a failure): 2 of 100 probes failed", s.p99)
	}
	if s.max != 98*time.Millisecond {
		t.Errorf("got max %v, want 98ms, the slowest answer", s.max)
	}
	if s.reasons["timeout"] != 1 || s.reasons["refused"] != 1 {
		t.Errorf("got reasons %v, want one timeout and one refused", s.reasons)
	}
}
