//go:build linux

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HAProxy is haproxy in master-worker mode inside a host namespace. Its
// master CLI is a unix socket on the shared file system, so the test
// process reaches it without entering the namespace.
type HAProxy struct {
	Proc   *Proc
	Config string
	Socket string
}

// HAProxyAvailable reports why haproxy cannot run here, or nil.
func HAProxyAvailable() error {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return fmt.Errorf("haproxy not installed: %w", err)
	}
	return nil
}

// StartHAProxy runs `haproxy -W -S sock -f cfg` on h and waits until its
// master CLI answers. The config file must exist.
func (h *Host) StartHAProxy(cfg string) (*HAProxy, error) {
	sock := filepath.Join(h.Dir, "haproxy-master.sock")
	p, err := h.Start("haproxy", nil, "haproxy", "-W", "-db", "-S", sock, "-f", cfg)
	if err != nil {
		return nil, err
	}
	hp := &HAProxy{Proc: p, Config: cfg, Socket: sock}
	err = poll(30*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("haproxy exited: %w", p.Wait(0))
		}
		st, err := hp.Status()
		if err == nil && len(st.Workers) == 0 {
			err = fmt.Errorf("no worker yet: %+v", st)
		}
		return err
	})
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("haproxy did not start: %w\n%s", err, p.Tail(20))
	}
	return hp, nil
}

// Command sends one command to the master CLI and returns the answer.
func (hp *HAProxy) Command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", hp.Socket, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("haproxy master cli: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy master cli: %w", err)
	}
	// The master answers once the client half-closes; without that it
	// waits for more commands.
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return "", fmt.Errorf("haproxy master cli: %w", err)
	}
	out, err := io.ReadAll(c)
	if err != nil && len(out) == 0 {
		return "", fmt.Errorf("haproxy master cli %q: %w", cmd, err)
	}
	return string(out), nil
}

// ProcStatus is the part of "show proc" the tests look at.
type ProcStatus struct {
	Reloads       int   // the master's reload counter
	FailedReloads int   // failed reloads since the last good one
	Workers       []int // current workers (not old ones)
}

// Status parses "show proc".
func (hp *HAProxy) Status() (ProcStatus, error) {
	out, err := hp.Command("show proc")
	if err != nil {
		return ProcStatus{}, err
	}
	return parseShowProc(out)
}

// parseShowProc reads HAProxy 2.6's "show proc" table:
//
//	#<PID>  <type>  <reloads>  <uptime>  <version>
//	1234    master  3 [failed: 0]  0d00h00m05s  2.6.12
//	# workers
//	1240    worker  0  ...
//	# old workers
//	1238    worker  1  ...
func parseShowProc(out string) (ProcStatus, error) {
	var st ProcStatus
	section, sawMaster := "", false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch {
		case f[1] == "master":
			sawMaster = true
			st.Reloads, _ = strconv.Atoi(f[2])
			if i := strings.Index(line, "[failed:"); i >= 0 {
				n := strings.TrimSpace(strings.TrimSuffix(strings.Fields(line[i+len("[failed:"):])[0], "]"))
				st.FailedReloads, _ = strconv.Atoi(n)
			}
		case f[1] == "worker" && section == "workers":
			st.Workers = append(st.Workers, pid)
		}
	}
	if !sawMaster {
		return st, fmt.Errorf("show proc: no master line in %q", out)
	}
	return st, nil
}

// Reload asks the master to reload and waits until the counter moves and a
// worker runs.
func (hp *HAProxy) Reload() error {
	before, err := hp.Status()
	if err != nil {
		return err
	}
	_, _ = hp.Command("reload") // the master re-executes and may cut the reply
	var st ProcStatus
	err = poll(20*time.Second, func() error {
		st, err = hp.Status()
		switch {
		case err != nil:
			return err
		case st.Reloads <= before.Reloads || len(st.Workers) == 0:
			return fmt.Errorf("not reloaded yet: before %+v, now %+v", before, st)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("haproxy reload: %w", err)
	}
	if st.FailedReloads > 0 {
		return fmt.Errorf("haproxy reload failed: %+v", st)
	}
	return nil
}

// LiveServer is one server of the current worker, from "show servers
// state".
type LiveServer struct {
	Proxy, Name string
	// Admin is srv_admin_state: 0x01 forced maintenance, 0x02 inherited
	// maintenance, 0x04 "disabled" in the file, 0x08 forced drain, 0x20
	// maintenance for a failed address resolution.
	Admin int
}

// Routable reports whether haproxy may send the server new connections,
// as far as its administrative state goes (health checks aside): not in
// maintenance and not draining. 0x04 alone does not count: it records the
// file's "disabled", which "set server ... state ready" overrides.
func (s LiveServer) Routable() bool { return s.Admin&(0x01|0x02|0x08|0x20) == 0 }

// RoutableServers returns the names of proxy's routable servers, sorted.
func RoutableServers(live []LiveServer, proxy string) []string {
	var names []string
	for _, s := range live {
		if s.Proxy == proxy && s.Routable() {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names
}

// ServersState reads "show servers state" from the current worker through
// the master CLI ("@1" addresses it, not older workers still finishing).
func (hp *HAProxy) ServersState() ([]LiveServer, error) {
	out, err := hp.Command("@1 show servers state")
	if err != nil {
		return nil, err
	}
	return parseServersState(out)
}

// parseServersState reads version 1 of "show servers state":
//
//	1
//	# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
//	3 svc_web 1 h1 10.77.0.11 2 0 1 1 ...
func parseServersState(out string) ([]LiveServer, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("show servers state: not version 1: %q", out)
	}
	var live []LiveServer
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 7 {
			return nil, fmt.Errorf("show servers state: short line %q", l)
		}
		admin, err := strconv.Atoi(f[6])
		if err != nil {
			return nil, fmt.Errorf("show servers state: admin state in %q: %w", l, err)
		}
		live = append(live, LiveServer{Proxy: f[1], Name: f[3], Admin: admin})
	}
	return live, nil
}
