package backends

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Server administrative state bits of "show servers state" (HAProxy's
// SRV_ADMF_*). CMAINT only records that the configuration said "disabled":
// a server with CMAINT alone takes traffic once "state ready" cleared
// FMAINT, so it is not part of maintMask.
const (
	admFMaint = 0x01 // forced into maintenance (CLI or "disabled")
	admIMaint = 0x02 // inherited from a tracked server
	admCMaint = 0x04 // "disabled" in the configuration
	admFDrain = 0x08 // forced into drain
	admRMaint = 0x20 // address resolution failed

	maintMask = admFMaint | admIMaint | admRMaint
)

// srvStopped is the operational state of a server its health check found
// down (SRV_ST_STOPPED).
const srvStopped = 0

// liveServer is one server as the running worker reports it.
type liveServer struct {
	proxy, name string
	addr        netip.Addr // invalid when HAProxy prints "-" (no address)
	port        int
	opState     int
	admin       int
	weight      int
	// sessions is the server's current sessions (scur), -1 when unknown.
	sessions int
}

func (l *liveServer) maint() bool { return l.admin&maintMask != 0 }
func (l *liveServer) drain() bool { return l.admin&admFDrain != 0 }

// liveState is the running worker's servers by "proxy/server".
type liveState map[string]*liveServer

func srvKey(proxy, server string) string { return proxy + "/" + server }

// runtimeCommand sends one Runtime API command to the current worker: to
// the stats socket when one is configured, else through the master CLI,
// where "@1" addresses the current worker (older workers finishing their
// connections are not it).
func (h *HAProxy) runtimeCommand(ctx context.Context, command string) (string, error) {
	if h.cfg.StatsSocket != "" {
		return socketCommand(ctx, "stats socket", h.cfg.StatsSocket, command)
	}
	reply, err := h.masterCommand(ctx, "@1 "+command)
	if strings.HasPrefix(reply, "Can't find the target PID") {
		return reply, fmt.Errorf("master cli: no current worker: %s", strings.TrimSpace(reply))
	}
	return reply, err
}

// socketCommand sends one command to an HAProxy CLI socket (a stats socket
// or the master's; kind names it in errors) and returns the reply. HAProxy
// answers a non-interactive session once it sees the end of the input, so
// the write side is closed after the command; without that it waits for
// more.
func socketCommand(ctx context.Context, kind, socket, command string) (string, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", kind, socket, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	if _, err := io.WriteString(conn, command+"\n"); err != nil {
		return "", fmt.Errorf("%s %q: %w", kind, command, err)
	}
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		return "", fmt.Errorf("%s %q: %w", kind, command, err)
	}
	reply, err := io.ReadAll(io.LimitReader(conn, 16<<20))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return string(reply), fmt.Errorf("%s %q: %w", kind, command, err)
	}
	return string(reply), nil
}

// errRefused marks a runtime command HAProxy did not carry out.
var errRefused = errors.New("refused")

// rtCmd is one runtime command and how to recognise its success: HAProxy
// answers most "set" commands with nothing, and others with a sentence.
type rtCmd struct {
	text string
	// success is a substring of the reply on success; "" wants an empty
	// reply.
	success []string
}

func setCmd(format string, args ...any) rtCmd { return rtCmd{text: fmt.Sprintf(format, args...)} }

// do runs c and returns an error wrapping errRefused, with HAProxy's reply,
// when HAProxy did not do it.
func (h *HAProxy) do(ctx context.Context, c rtCmd) error {
	reply, err := h.runtimeCommand(ctx, c.text)
	h.rt.count(func(s *RuntimeStats) { s.Commands++ })
	if err != nil {
		return fmt.Errorf("%q: %w", c.text, err)
	}
	reply = strings.TrimSpace(reply)
	if len(c.success) == 0 && reply == "" {
		return nil
	}
	for _, s := range c.success {
		if strings.Contains(reply, s) {
			return nil
		}
	}
	return fmt.Errorf("%q: %w: %s", c.text, errRefused, reply)
}

// readLive reads "show servers state" and, with sessions, the current
// sessions of each server from "show stat".
func (h *HAProxy) readLive(ctx context.Context, sessions bool) (liveState, error) {
	reply, err := h.runtimeCommand(ctx, "show servers state")
	if err != nil {
		return nil, fmt.Errorf("show servers state: %w", err)
	}
	live, err := parseServersState(reply)
	if err != nil {
		return nil, fmt.Errorf("show servers state: %w", err)
	}
	if !sessions {
		return live, nil
	}
	reply, err = h.runtimeCommand(ctx, "show stat -1 4 -1") // servers only
	if err != nil {
		return nil, fmt.Errorf("show stat: %w", err)
	}
	if err := parseStatSessions(reply, live); err != nil {
		return nil, fmt.Errorf("show stat: %w", err)
	}
	return live, nil
}

// parseServersState reads "show servers state" format 1, finding columns
// by the names in its header line.
func parseServersState(reply string) (liveState, error) {
	live := liveState{}
	err := scanServersState(reply, nil, func(_ []string, _ map[string]int, l *liveServer) {
		live[srvKey(l.proxy, l.name)] = l
	})
	if err != nil {
		return nil, err
	}
	return live, nil
}

// scanServersState walks a "show servers state" format 1 reply: header,
// when set, gets the fields of each header line ("#" first), and row each
// server line's fields, the columns by name and the server they describe.
func scanServersState(reply string, header func(fields []string), row func(fields []string, col map[string]int, l *liveServer)) error {
	lines := strings.Split(strings.TrimLeft(reply, " \r\n"), "\n")
	if strings.TrimSpace(lines[0]) != "1" {
		return fmt.Errorf("not format 1: %q", firstLine(reply))
	}
	var col map[string]int
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "#" {
			col = map[string]int{}
			for i, name := range fields[1:] {
				col[name] = i
			}
			if header != nil {
				header(fields)
			}
			continue
		}
		if col == nil {
			return fmt.Errorf("data before the header: %q", line)
		}
		l, err := liveFromFields(fields, col)
		if err != nil {
			return fmt.Errorf("%w in %q", err, line)
		}
		row(fields, col, l)
	}
	return nil
}

func liveFromFields(fields []string, col map[string]int) (*liveServer, error) {
	get := func(name string) (string, error) {
		i, ok := col[name]
		if !ok || i >= len(fields) {
			return "", fmt.Errorf("no %s column", name)
		}
		return fields[i], nil
	}
	l := &liveServer{sessions: -1}
	var errs []error
	str := func(name string, dst *string) {
		v, err := get(name)
		errs = append(errs, err)
		*dst = v
	}
	num := func(name string, dst *int) {
		v, err := get(name)
		if err == nil {
			*dst, err = strconv.Atoi(v)
		}
		errs = append(errs, err)
	}
	var addr string
	str("be_name", &l.proxy)
	str("srv_name", &l.name)
	str("srv_addr", &addr)
	num("srv_port", &l.port)
	num("srv_op_state", &l.opState)
	num("srv_admin_state", &l.admin)
	num("srv_uweight", &l.weight)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		l.addr = a.Unmap()
	}
	return l, nil
}

// parseStatSessions sets the sessions of the servers in live from the CSV
// of "show stat".
func parseStatSessions(reply string, live liveState) error {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(reply, "# ")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	idx := map[string]int{}
	for i, name := range header {
		idx[name] = i
	}
	px, okPx := idx["pxname"]
	sv, okSv := idx["svname"]
	scur, okCur := idx["scur"]
	if !okPx || !okSv || !okCur {
		return fmt.Errorf("no pxname, svname or scur column in %q", firstLine(reply))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) <= max(px, sv, scur) {
			continue
		}
		if l, ok := live[srvKey(rec[px], rec[sv])]; ok {
			if n, err := strconv.Atoi(rec[scur]); err == nil {
				l.sessions = n
			}
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
