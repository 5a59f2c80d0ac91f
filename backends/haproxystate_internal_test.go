package backends

import (
	"strings"
	"testing"
)

func TestStateFile_FromGlobalAndBase(t *testing.T) {
	for _, tc := range []struct {
		conf       string
		path       string
		wantLoaded bool
	}{
		{"global\n    server-state-file /run/s\ndefaults\n    load-server-state-from-file global\n", "/run/s", true},
		{"global\n    server-state-base /var/lib/h\n    server-state-file s\nbackend be\n    load-server-state-from-file global\n", "/var/lib/h/s", true},
		{"global\n    server-state-file /run/s\n", "/run/s", false}, // named but no proxy loads it
		{"defaults\n    load-server-state-from-file global\n", "", false},
	} {
		path, loaded := parseOrFail(t, tc.conf).stateFile()
		if path != tc.path || loaded != tc.wantLoaded {
			t.Errorf("stateFile of %q = %q, %t; want %q, %t", tc.conf, path, loaded, tc.path, tc.wantLoaded)
		}
	}
}

// The dump is made to agree with the configuration to load: gone and moved
// servers and shoal's own leaving ones lose their line, weights and
// maintenance become the file's, an operator's drain and the check state
// stay.
func TestServerStateFor_AgreesWithTheConfiguration(t *testing.T) {
	dump := "\n" + strings.Join([]string{
		"1",
		"# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_port",
		"1 be 1 a 10.0.0.1 0 8 7 5 80",   // down, drained by an operator, weight set by hand
		"1 be 2 b 10.0.0.2 2 1 5 5 80",   // maint by hand; the file says enabled
		"1 be 3 c 10.0.0.3 2 0 5 5 80",   // moved in the file
		"1 be 4 d 10.0.0.4 2 8 5 5 80",   // shoal drains it: leaving
		"1 be 5 e 10.0.0.5 2 0 5 5 80",   // not in the file
		"1 gone 1 a 10.0.0.1 2 0 5 5 80", // backend not in the file
		"1 be 6 f 10.0.0.6 2 0 5 5 80",   // disabled in the file
	}, "\n") + "\n\n"
	cfg := parseOrFail(t, "backend be\n    server a 10.0.0.1:80 weight 5 check\n    server b 10.0.0.2:80 weight 5\n"+
		"    server c 10.0.0.9:80\n    server d 10.0.0.4:80\n    server f 10.0.0.6:80 weight 3 disabled\n")
	got, err := serverStateFor(dump, cfg, map[string]*leavingServer{"be/d": {proxy: "be"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"1",
		"# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_port",
		"1 be 1 a 10.0.0.1 0 8 5 5 80",
		"1 be 2 b 10.0.0.2 2 0 5 5 80",
		"1 be 6 f 10.0.0.6 2 5 3 3 80",
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("serverStateFor:\n got %q\nwant %q", got, want)
	}
	if _, err := serverStateFor("Unknown command.\n", cfg, nil); err == nil {
		t.Error("serverStateFor(an error reply) = nil error")
	}
}
