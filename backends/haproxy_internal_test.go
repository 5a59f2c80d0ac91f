package backends

import (
	"slices"
	"testing"
)

// showProc26 is what HAProxy 2.6.12's master printed for "show proc" after
// a failed reload, with a worker of the previous configuration still
// listed.
const showProc26 = `#<PID>          <type>          <reloads>       <uptime>        <version>      
7186            master          2 [failed: 1]   0d00h11m02s     2.6.12-1+deb12u4
# workers
20258           worker          1               0d00h00m25s     2.6.12-1+deb12u4
22198           worker          0               0d00h00m02s     2.6.12-1+deb12u4
# programs

`

func TestParseShowProc(t *testing.T) {
	st, err := parseShowProc(showProc26)
	if err != nil {
		t.Fatal(err)
	}
	want := HAProxyStatus{
		MasterPID: 7186, Reloads: 2, FailedReloads: 1,
		Workers: []HAProxyWorker{{PID: 20258, Reloads: 1}, {PID: 22198, Reloads: 0}},
	}
	if st.MasterPID != want.MasterPID || st.Reloads != want.Reloads || st.FailedReloads != want.FailedReloads || !slices.Equal(st.Workers, want.Workers) {
		t.Errorf("parseShowProc = %+v, want %+v", st, want)
	}
	if got := newWorkers(HAProxyStatus{Workers: []HAProxyWorker{{PID: 20258}}}, st); !slices.Equal(got, []int{22198}) {
		t.Errorf("newWorkers = %v, want [22198]", got)
	}
}

func TestParseShowProc_RejectsOutputWithoutMaster(t *testing.T) {
	if _, err := parseShowProc("Unknown command.\n"); err == nil {
		t.Error("parseShowProc(no master line) = nil error, want one")
	}
}

func TestTail_KeepsWholeLastLines(t *testing.T) {
	long := ""
	for i := 0; i < 500; i++ {
		long += "[ALERT] line\n"
	}
	got := tail(long + "[ALERT] the verdict\n")
	if len(got) > errorTail+8 || got[:5] != ":\n..." || got[len(got)-11:] != "the verdict" {
		t.Errorf("tail kept %d bytes, starting %q and ending %q", len(got), got[:min(len(got), 20)], got[max(0, len(got)-20):])
	}
	if tail("  \n") != "" {
		t.Error("tail of blank output should be empty")
	}
}

func TestTailBuffer_KeepsTheEnd(t *testing.T) {
	b := &tailBuffer{limit: 8}
	b.Write([]byte("0123456789"))
	b.Write([]byte("ab"))
	if got := b.String(); got != "456789ab" {
		t.Errorf("tailBuffer = %q, want %q", got, "456789ab")
	}
}
