package backends

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

const confBase = `# comment
global
    maxconn 100   # trailing comment
defaults named
    mode http
    default-server weight 10
defaults
    mode tcp
    default-server inter 2s fall 3 check
frontend fe
    bind 127.0.0.1:80
    default_backend be
backend be
    balance roundrobin
    server a 10.0.0.1:80 weight 5
    server b [::1]:81 no-check disabled
    server c 10.0.0.3:80 cookie c1 enabled
listen ls from named
    bind 127.0.0.1:81
    default-server maxconn 7
    server d 10.0.0.4:80
    server e web.example:80
    server f "10.0.0.6:80"
peers p
    server other 10.0.0.9:1024
`

func parseOrFail(t *testing.T, content string) *hapConfig {
	t.Helper()
	cfg, err := parseHAProxyConfig([]byte(content))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

func section(t *testing.T, cfg *hapConfig, header string) *hapSection {
	t.Helper()
	for _, s := range cfg.sections {
		if s.header == header {
			return s
		}
	}
	t.Fatalf("no section %q", header)
	return nil
}

func TestParseHAProxyConfig_ServersWithTheirDefaults(t *testing.T) {
	cfg := parseOrFail(t, confBase)
	be, ls := section(t, cfg, "backend be"), section(t, cfg, "listen ls from named")
	tests := []struct {
		sec               *hapSection
		name              string
		addr              string
		readable, hasAddr bool
		weight            int
		disabled          bool
		opts              string
		notAddable        string
	}{
		{be, "a", "10.0.0.1:80", true, true, 5, false, "inter 2s fall 3 check", ""},
		{be, "b", "[::1]:81", true, true, 1, true, "inter 2s fall 3", ""},
		{be, "c", "10.0.0.3:80", true, true, 1, false, "inter 2s fall 3 check cookie c1", "cookie"},
		{ls, "d", "10.0.0.4:80", true, true, 10, false, "maxconn 7", ""},
		{ls, "e", "", true, false, 10, false, "maxconn 7", ""},
		{ls, "f", "", false, false, 1, false, "", ""},
	}
	for _, tt := range tests {
		s := tt.sec.server(tt.name)
		if s == nil {
			t.Errorf("%s/%s: not parsed", tt.sec.name, tt.name)
			continue
		}
		got := strings.Join(s.opts, " ")
		if s.readable != tt.readable || s.hasAddr != tt.hasAddr || s.weight != tt.weight || s.disabled != tt.disabled || got != tt.opts || s.notAddable != tt.notAddable {
			t.Errorf("%s/%s: got readable=%t hasAddr=%t weight=%d disabled=%t opts=%q notAddable=%q, want %t %t %d %t %q %q",
				tt.sec.name, tt.name, s.readable, s.hasAddr, s.weight, s.disabled, got, s.notAddable,
				tt.readable, tt.hasAddr, tt.weight, tt.disabled, tt.opts, tt.notAddable)
		}
		if tt.hasAddr && s.hostPort() != tt.addr {
			t.Errorf("%s/%s: hostPort %q, want %q", tt.sec.name, tt.name, s.hostPort(), tt.addr)
		}
	}
	if p := section(t, cfg, "peers p"); len(p.servers) != 0 || !slices.Contains(p.lines, "server other 10.0.0.9:1024") {
		t.Errorf("peers section: servers %d, lines %q; want its server line as structure", len(p.servers), p.lines)
	}
	if g := section(t, cfg, "global"); !slices.Equal(g.lines, []string{"maxconn 100"}) {
		t.Errorf("global lines %q, want the comment dropped", g.lines)
	}
}

func TestParseHAProxyConfig_UnknownDefaultsIsAnError(t *testing.T) {
	_, err := parseHAProxyConfig([]byte("backend be from nowhere\n    server a 10.0.0.1:80\n"))
	if err == nil || !strings.Contains(err.Error(), `no defaults section "nowhere"`) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("parse = %v, want an error naming the missing defaults and the line", err)
	}
}

func TestParseServerAddr(t *testing.T) {
	tests := []struct {
		in   string
		addr string
		port int
		ok   bool
	}{
		{"10.0.0.1:80", "10.0.0.1", 80, true},
		{"10.0.0.1", "10.0.0.1", 0, true},
		{"[::1]:80", "::1", 80, true},
		{"::1:80", "::1", 80, true},
		{"ipv4@10.0.0.1:80", "10.0.0.1", 80, true},
		{"ipv6@[fe80::1]:443", "fe80::1", 443, true},
		{"web.example:80", "", 0, false},
		{"10.0.0.1:+1000", "", 0, false},
		{"10.0.0.1:80-90", "", 0, false},
		{"unix@/run/app.sock", "", 0, false},
		{"10.0.0.1:0", "", 0, false},
	}
	for _, tt := range tests {
		addr, port, ok := parseServerAddr(tt.in)
		want := netip.Addr{}
		if tt.addr != "" {
			want = netip.MustParseAddr(tt.addr)
		}
		if ok != tt.ok || (ok && (addr != want || port != tt.port)) {
			t.Errorf("parseServerAddr(%q) = %v, %d, %t; want %v, %d, %t", tt.in, addr, port, ok, want, tt.port, tt.ok)
		}
	}
}

func TestSameStructure(t *testing.T) {
	base := parseOrFail(t, confBase)
	tests := []struct {
		name, from, to string
		want           string // "" means the same structure
	}{
		{"server added", "    server a 10.0.0.1:80 weight 5\n", "    server a 10.0.0.1:80 weight 5\n    server z 10.0.0.26:80\n", ""},
		{"server removed", "    server d 10.0.0.4:80\n", "", ""},
		{"server changed", "server a 10.0.0.1:80 weight 5", "server a 10.0.0.11:8080 weight 6 disabled", ""},
		{"whitespace and comments", "    balance roundrobin\n", "  balance\troundrobin   # why\n", ""},
		{"balance", "balance roundrobin", "balance leastconn", `in "backend be": line "balance roundrobin" is now "balance leastconn"`},
		{"bind", "bind 127.0.0.1:81", "bind 127.0.0.1:82", `line "bind 127.0.0.1:81" is now "bind 127.0.0.1:82"`},
		{"default-server", "default-server maxconn 7", "default-server maxconn 8", `"default-server maxconn 7" is now "default-server maxconn 8"`},
		{"peer server", "server other 10.0.0.9:1024", "server other 10.0.0.10:1024", `"server other 10.0.0.9:1024" is now`},
		{"new section", "peers p\n", "backend extra\n    server x 10.0.0.1:1\npeers p\n", `section "peers p" is now "backend extra"`},
		{"section gone", "peers p\n    server other 10.0.0.9:1024\n", "", `section "peers p" is gone`},
		{"renamed", "\nbackend be\n", "\nbackend be2\n", `section "backend be" is now "backend be2"`},
	}
	for _, tt := range tests {
		changed := strings.Replace(confBase, tt.from, tt.to, 1)
		if changed == confBase {
			t.Fatalf("%s: %q not in the base configuration", tt.name, tt.from)
		}
		err := sameStructure(base, parseOrFail(t, changed))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: sameStructure = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: sameStructure = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

const planBase = `defaults
    default-server inter 2s
backend be
    balance roundrobin
    server a 10.0.0.1:80 weight 5 check
    server b 10.0.0.2:80 weight 5 check
    server c 10.0.0.3:80 cookie c
`

// liveOf is what a worker running cfg reports: every server up, ready,
// with the given sessions.
func liveOf(cfg *hapConfig, sessions int) liveState {
	live := liveState{}
	for _, sec := range cfg.sections {
		for _, s := range sec.servers {
			admin := 0
			if s.disabled {
				admin = admFMaint | admCMaint
			}
			live[srvKey(sec.name, s.name)] = &liveServer{proxy: sec.name, name: s.name, addr: s.addr, port: s.port,
				opState: 2, admin: admin, weight: s.weight, sessions: sessions}
		}
	}
	return live
}

func TestPlanChanges(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		sessions int      // of each server; -2 and -3 are special cases for be/b
		want     []string // commands; a "fallback:" prefix wants that reason
	}{
		{"add", "    server c", "    server d 10.0.0.4:81 weight 2 check maxconn 5\n    server c", 0, []string{
			"add server be/d 10.0.0.4:81 weight 2 inter 2s check maxconn 5", "enable health be/d", "set server be/d state ready"}},
		{"add disabled", "    server c", "    server d [::1]:81 disabled\n    server c", 0, []string{
			"add server be/d [::1]:81 weight 1 inter 2s"}},
		{"weight and address", "server a 10.0.0.1:80 weight 5", "server a 10.0.0.9:8080 weight 7", 0, []string{
			"set server be/a addr 10.0.0.9 port 8080", "set server be/a weight 7"}},
		{"disable", "server b 10.0.0.2:80 weight 5 check", "server b 10.0.0.2:80 weight 5 check disabled", 0, []string{
			"set server be/b state maint"}},
		{"remove idle", "    server b 10.0.0.2:80 weight 5 check\n", "", 0, []string{
			"set server be/b state maint", "del server be/b"}},
		{"remove busy drains", "    server b 10.0.0.2:80 weight 5 check\n", "", 3, []string{
			"set server be/b state drain"}},
		{"remove busy and disabled waits", "    server b 10.0.0.2:80 weight 5 check\n", "", -2, nil},
		{"remove busy and down is shut", "    server b 10.0.0.2:80 weight 5 check\n", "", -3, []string{
			"set server be/b state maint", "shutdown sessions server be/b", "del server be/b"}},
		{"weight of a cookie server", "server c 10.0.0.3:80 cookie c", "server c 10.0.0.3:80 cookie c weight 3", 0, []string{
			"set server be/c weight 3"}},
		{"options", "server a 10.0.0.1:80 weight 5 check", "server a 10.0.0.1:80 weight 5 check rise 9", 0, []string{"fallback:" + FallbackOptions}},
		{"not addable", "    server c", "    server d 10.0.0.4:80 cookie d\n    server c", 0, []string{"fallback:" + FallbackNotAddable}},
		{"hostname", "    server c", "    server d app.example:80\n    server c", 0, []string{"fallback:" + FallbackNotAddable}},
	}
	old := parseOrFail(t, planBase)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := strings.Replace(planBase, tt.from, tt.to, 1)
			if changed == planBase {
				t.Fatalf("%q not in the base configuration", tt.from)
			}
			live := liveOf(old, max(tt.sessions, 0))
			switch tt.sessions {
			case -2: // in maintenance (operationally down too), with sessions
				live["be/b"].sessions, live["be/b"].admin, live["be/b"].opState = 2, admFMaint, srvStopped
			case -3: // its health check failed, with sessions
				live["be/b"].sessions, live["be/b"].opState = 2, srvStopped
			}
			steps, err := planChanges(old, parseOrFail(t, changed), live, map[string]*leavingServer{}, ApplyHints{}, time.Now())
			var got []string
			if err != nil {
				fe, ok := err.(*FallbackError)
				if !ok {
					t.Fatalf("planChanges error %v is not a *FallbackError", err)
				}
				got = []string{"fallback:" + fe.Reason}
			}
			for _, st := range steps {
				if st.cmd.text != "" {
					got = append(got, st.cmd.text)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q (err %v), want %q", got, err, tt.want)
			}
		})
	}
}

// A server that is back while it still drains is revived in place, and a
// server that is back with other options needs a reload.
func TestPlanChanges_Revive(t *testing.T) {
	old := parseOrFail(t, planBase)
	without := parseOrFail(t, strings.Replace(planBase, "    server b 10.0.0.2:80 weight 5 check\n", "", 1))
	live := liveOf(old, 1)
	live["be/b"].admin = admFDrain
	leaving := map[string]*leavingServer{"be/b": {proxy: "be", srv: section(t, old, "backend be").server("b")}}

	steps, err := planChanges(without, old, live, leaving, ApplyHints{}, time.Now())
	if err != nil || len(steps) != 2 || steps[0].cmd.text != "set server be/b state ready" || steps[1].kind != stepRevive {
		t.Errorf("revive: got %+v, %v; want state ready and the revive bookkeeping", steps, err)
	}
	other := parseOrFail(t, strings.Replace(planBase, "server b 10.0.0.2:80 weight 5 check", "server b 10.0.0.2:80 weight 5", 1))
	if _, err := planChanges(without, other, live, leaving, ApplyHints{}, time.Now()); err == nil || !strings.Contains(err.Error(), "is back as") {
		t.Errorf("revive with other options: err %v, want a fallback", err)
	}
}

// showServersState26 is HAProxy 2.6.12's answer, with a disabled server
// set ready (CMAINT alone) and one draining.
const showServersState26 = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
1 be 1 a 10.0.0.1 2 0 5 5 1 1 0 2 0 0 0 0 - 80 - 0 0 - - 0
1 be 2 b 10.0.0.2 2 12 5 5 1 1 0 2 0 0 0 0 - 80 - 0 0 - - 0
1 be 3 c 10.0.0.3 2 4 1 1 1 1 0 2 0 0 0 0 - 80 - 0 0 - - 0

`

func TestParseServersStateAndMismatches(t *testing.T) {
	live, err := parseServersState(showServersState26)
	if err != nil {
		t.Fatal(err)
	}
	if l := live["be/b"]; l == nil || !l.drain() || l.maint() || l.weight != 5 || l.port != 80 {
		t.Fatalf("be/b parsed as %+v, want draining, not in maintenance, weight 5, port 80", l)
	}
	if l := live["be/c"]; l == nil || l.maint() {
		t.Fatalf("be/c parsed as %+v, want ready (CMAINT alone is not maintenance)", l)
	}
	stat := "# pxname,svname,qcur,qmax,scur,smax\nbe,a,0,0,3,4\nbe,b,0,0,0,1\nbe,BACKEND,0,0,3,4\n"
	if err := parseStatSessions(stat, live); err != nil || live["be/a"].sessions != 3 || live["be/b"].sessions != 0 || live["be/c"].sessions != -1 {
		t.Fatalf("sessions a=%d b=%d c=%d (%v), want 3, 0 and -1 (unknown)", live["be/a"].sessions, live["be/b"].sessions, live["be/c"].sessions, err)
	}

	cfg := parseOrFail(t, "backend be\n    server a 10.0.0.1:80 weight 5\n    server c 10.0.0.3:80 weight 2\n    server d 10.0.0.4:80\n")
	got := mismatches(cfg, live, map[string]*leavingServer{})
	want := []string{"be/b runs but is not in the file", "be/c runs with weight 1, the file says 2", "be/d is in the file but does not run"}
	if !slices.Equal(got, want) {
		t.Errorf("mismatches:\n got %q\nwant %q", got, want)
	}
	got = mismatches(cfg, live, map[string]*leavingServer{"be/b": {proxy: "be"}})
	if len(got) != 2 {
		t.Errorf("with b draining: mismatches %q, want b no longer one", got)
	}
	if _, err := parseServersState("Unknown command\n"); err == nil {
		t.Error("parseServersState(an error reply) = nil error")
	}
}

// A busy server whose member failed, or whose instance turned critical, is
// shut at once; one that only shares its IP with such an instance (another
// port) still drains.
func TestPlanChanges_FailedMemberIsShut(t *testing.T) {
	old := parseOrFail(t, planBase)
	cand := parseOrFail(t, strings.Replace(planBase, "    server b 10.0.0.2:80 weight 5 check\n", "", 1))
	shut := []string{"set server be/b state maint", "shutdown sessions server be/b", "del server be/b"}
	for _, tc := range []struct {
		failed   string
		critical bool // the address is in Critical, not Failed
		want     []string
	}{
		{"10.0.0.2:80", false, shut},
		{"10.0.0.2:81", false, []string{"set server be/b state drain"}},
		{"10.0.0.2:80", true, shut},
		{"10.0.0.2:81", true, []string{"set server be/b state drain"}},
	} {
		hints := ApplyHints{Failed: []netip.AddrPort{netip.MustParseAddrPort(tc.failed)}}
		if tc.critical {
			hints = ApplyHints{Critical: hints.Failed}
		}
		steps, err := planChanges(old, cand, liveOf(old, 3), map[string]*leavingServer{}, hints, time.Now())
		var got []string
		for _, st := range steps {
			got = append(got, st.cmd.text)
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("failed %s: got %q (err %v), want %q", tc.failed, got, err, tc.want)
		}
	}
}
