package backends

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/internal/atomicfile"
)

// The server state file carries what the running worker knows about its
// servers across a reload: health-check results (a server its check found
// down starts down, not up), and an operator's drain. HAProxy loads it at
// startup when the global section names it ("server-state-file") and the
// backends ask for it ("load-server-state-from-file global"); HAProxy
// never writes it, so shoal dumps "show servers state" into it before
// every reload it makes.
//
// HAProxy 2.6 applies what the file says even where the new configuration
// says otherwise: it restores a runtime weight when the configured weight
// is unchanged, and the port (not the address) of a server moved at
// runtime. So the dump is first made to agree with the configuration to be
// loaded (see serverStateFor): servers it does not list, or lists at
// another address, lose their line; weights and maintenance become the
// file's. Lines of backends or servers the configuration lacks would be
// ignored by HAProxy (checked with 2.6.12); they are dropped anyway, so
// the file on disk says only what will be loaded.

// stateFile returns the global server-state-file of cfg, joined to
// server-state-base when relative, and whether any proxy loads it; "" if
// the configuration names none. A relative path without a base is
// relative to haproxy's working directory, which shoal assumes is its own.
func (c *hapConfig) stateFile() (path string, loaded bool) {
	var file, base string
	for _, sec := range c.sections {
		for _, line := range sec.lines {
			f := strings.Fields(line)
			switch {
			case sec.kind == "global" && len(f) == 2 && f[0] == "server-state-file":
				file = f[1]
			case sec.kind == "global" && len(f) == 2 && f[0] == "server-state-base":
				base = f[1]
			case len(f) == 2 && f[0] == "load-server-state-from-file" && f[1] == "global":
				loaded = true
			}
		}
	}
	if file != "" && base != "" && !filepath.IsAbs(file) {
		file = filepath.Join(base, file)
	}
	return file, loaded && file != ""
}

// saveServerState writes the running worker's server state, made to agree
// with the configuration the reload is about to load (h.next), to that
// configuration's server-state-file. A failure is logged and counted, and
// the reload goes on without the file's help: the new worker then starts
// from its configuration alone. The caller holds opMu.
func (h *HAProxy) saveServerState(ctx context.Context) {
	if h.next == nil {
		return // no configuration seen yet, so no state file known
	}
	path, loaded := h.next.stateFile()
	if !loaded {
		return
	}
	err := h.writeServerState(ctx, path)
	if err != nil {
		h.log.Warn("haproxy reloads without a fresh server state file: servers start from the configuration alone",
			"path", path, "err", err)
	}
	h.rt.count(func(s *RuntimeStats) {
		if err != nil {
			s.StateFileSkips++
			s.LastStateFileError = err.Error()
			return
		}
		s.StateFileWrites++
	})
}

func (h *HAProxy) writeServerState(ctx context.Context, path string) error {
	if h.cfg.MasterSocket == "" && h.cfg.StatsSocket == "" {
		return fmt.Errorf("no master_socket or stats_socket to read the state from")
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	reply, err := h.runtimeCommand(ctx, "show servers state")
	if err != nil {
		return fmt.Errorf("show servers state: %w", err)
	}
	content, err := serverStateFor(reply, h.next, h.leaving)
	if err != nil {
		return fmt.Errorf("show servers state: %w", err)
	}
	if err := atomicfile.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("server state file: %w", err)
	}
	return nil
}

// serverStateFor turns a "show servers state" reply into a state file for
// cfg: it keeps the lines of servers cfg lists, at the address and port
// the running server has, that shoal is not removing (leaving); in those,
// the weight becomes cfg's (unless an agent check sets it) and the
// maintenance bits cfg's "disabled". What stays is the check state and an
// operator's drain (the one admin state a server line cannot say).
func serverStateFor(reply string, cfg *hapConfig, leaving map[string]*leavingServer) ([]byte, error) {
	var b strings.Builder
	b.WriteString("1\n")
	header := func(fields []string) { b.WriteString(strings.Join(fields, " ") + "\n") }
	err := scanServersState(reply, header, func(fields []string, col map[string]int, l *liveServer) {
		s := cfg.findServer(l.proxy, l.name)
		if s == nil || !s.hasAddr || s.addr != l.addr || s.port != l.port || leaving[srvKey(l.proxy, l.name)] != nil {
			return
		}
		if s.readable {
			admin := l.admin & admFDrain
			if s.disabled {
				admin |= admFMaint | admCMaint
			}
			fields[col["srv_admin_state"]] = strconv.Itoa(admin)
			if i, ok := col["srv_iweight"]; ok && !hasOption(s.opts, "agent-check") {
				fields[col["srv_uweight"]] = strconv.Itoa(s.weight)
				fields[i] = strconv.Itoa(s.weight)
			}
		}
		b.WriteString(strings.Join(fields, " ") + "\n")
	})
	if err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func (c *hapConfig) findServer(proxy, name string) *hapServer {
	for _, sec := range c.sections {
		if sec.hasServers() && sec.name == proxy {
			return sec.server(name)
		}
	}
	return nil
}

// noteConfig remembers cfg as the configuration the next reload loads,
// for the server state file. A file that does not parse is left out: the
// runtime path reports that itself.
func (h *HAProxy) noteConfig(content []byte) {
	if cfg, err := parseHAProxyConfig(content); err == nil {
		h.next = cfg
	}
}

// noteCandidate is noteConfig for a validated candidate file at path.
func (h *HAProxy) noteCandidate(path string) {
	content, err := os.ReadFile(path)
	if err != nil {
		return
	}
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.noteConfig(content)
}
