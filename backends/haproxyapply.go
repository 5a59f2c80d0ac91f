package backends

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reasons a change falls back to a reload, as RuntimeStats counts them.
const (
	FallbackDisabled    = "disabled"     // no runtime socket, or the runtime path is off
	FallbackParse       = "parse"        // a configuration could not be read
	FallbackStructure   = "structure"    // something besides server lines changed
	FallbackOptions     = "options"      // a server's options besides address, weight and state changed
	FallbackNotAddable  = "not-addable"  // a new server has options "add server" refuses
	FallbackUnavailable = "unavailable"  // the runtime API did not answer
	FallbackDrift       = "drift"        // the running servers disagreed with the file before the change
	FallbackRefused     = "refused"      // HAProxy refused a runtime command
	FallbackVerify      = "verify"       // after the change, the running servers disagreed with the file
	FallbackGhosts      = "ghosts"       // too many removed servers could not be deleted
	FallbackDrainFailed = "drain-failed" // a leaving server could not be put in maintenance
)

// FallbackError says why a configuration change could not be applied
// through the Runtime API; the caller reloads instead.
type FallbackError struct {
	// Reason is one of the Fallback* constants.
	Reason string
	Err    error
}

func (e *FallbackError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *FallbackError) Unwrap() error { return e.Err }

func fallback(reason string, format string, args ...any) error {
	return &FallbackError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// leavingServer is a server the installed file no longer lists but the
// running worker still has: draining until its sessions end or its
// deadline passes, or a ghost, in maintenance because "del server" was
// refused. A refusal because of connections is retried at each reconcile;
// one because other configuration points to the server (HAProxy 2.6 marks
// every server a "track", "use-server" or similar line names as not
// deletable, for the worker's whole life, even once the tracker is gone)
// pins the ghost until the next reload.
type leavingServer struct {
	proxy    string
	srv      *hapServer // the line the file last had, to compare a re-add
	deadline time.Time  // draining: when its sessions are shut
	ghost    bool
	pinned   bool
}

// refusedForReferences is HAProxy 2.6's answer to "del server" for a server
// the configuration refers to.
const refusedForReferences = "other configuration elements pointing to it"

// Apply makes the running HAProxy match candidate without a reload when
// candidate differs from running (the installed file, which the worker
// runs) only in server lines of existing backend and listen sections.
// It returns true once the worker runs the candidate's servers, checked
// with "show servers state"; otherwise a *FallbackError says why not, and
// the caller installs candidate and reloads. A failed apply may have left
// part of the change made: the reload makes the running state whole.
//
// A removed server at an address hints.Failed or hints.Critical names is
// shut at once (see ApplyHints); any other drains, unless it has no sessions or its health
// check already finds it down.
func (h *HAProxy) Apply(ctx context.Context, running, candidate []byte, hints ApplyHints) (bool, error) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	defer h.setLeavingGauges()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if err := h.apply(ctx, running, candidate, hints); err != nil {
		h.rt.fallback(err)
		return false, err
	}
	h.rt.count(func(s *RuntimeStats) { s.Applies++ })
	return true, nil
}

func (h *HAProxy) apply(ctx context.Context, running, candidate []byte, hints ApplyHints) error {
	if err := h.runtimeAvailable(); err != nil {
		return err
	}
	old, err := parseHAProxyConfig(running)
	if err != nil {
		return fallback(FallbackParse, "running configuration: %w", err)
	}
	cand, err := parseHAProxyConfig(candidate)
	if err != nil {
		return fallback(FallbackParse, "candidate configuration: %w", err)
	}
	h.next = cand // what a fallback reload loads
	if err := sameStructure(old, cand); err != nil {
		return &FallbackError{Reason: FallbackStructure, Err: err}
	}
	live, err := h.readLive(ctx, true)
	if err != nil {
		return &FallbackError{Reason: FallbackUnavailable, Err: err}
	}
	h.forgetGone(live)
	if m := mismatches(old, live, h.leaving); len(m) > 0 {
		h.rt.drift(m)
		return fallback(FallbackDrift, "running servers differ from the installed file: %s", strings.Join(m, "; "))
	}
	steps, err := planChanges(old, cand, live, h.leaving, hints, time.Now().Add(h.cfg.DrainTimeout))
	if err != nil {
		return err
	}
	for _, st := range steps {
		if err := h.runStep(ctx, st); err != nil {
			reason := FallbackUnavailable // the socket failed
			if errors.Is(err, errRefused) {
				reason = FallbackRefused
			}
			return &FallbackError{Reason: reason, Err: err}
		}
	}
	after, err := h.readLive(ctx, false)
	if err != nil {
		return &FallbackError{Reason: FallbackUnavailable, Err: err}
	}
	if m := mismatches(cand, after, h.leaving); len(m) > 0 {
		return fallback(FallbackVerify, "after the change, running servers differ from the file: %s", strings.Join(m, "; "))
	}
	return nil
}

func (h *HAProxy) runtimeAvailable() error {
	switch {
	case h.cfg.NoRuntime:
		return fallback(FallbackDisabled, "the runtime path is turned off (no_runtime)")
	case h.cfg.NoReload:
		return fallback(FallbackDisabled, "%w", ErrNoReload)
	case h.cfg.MasterSocket == "" && h.cfg.StatsSocket == "":
		return fallback(FallbackDisabled, "no master_socket or stats_socket to reach the Runtime API")
	}
	return nil
}

// forgetGone drops leaving servers the worker no longer has: a reload or
// restart outside shoal removed them.
func (h *HAProxy) forgetGone(live liveState) {
	for key := range h.leaving {
		if live[key] == nil {
			delete(h.leaving, key)
		}
	}
}

// stepKind says what a step's success or refusal means for the servers
// shoal tracks.
type stepKind int

const (
	stepPlain  stepKind = iota
	stepDrain           // success: the server drains
	stepRevive          // success: a leaving server is back in the file
	stepDelete          // success: gone; refusal: a ghost, not a failure
	stepAdd             // success: a server was added
)

// step is one runtime command of a change, or only bookkeeping when its
// command is empty.
type step struct {
	cmd  rtCmd
	kind stepKind
	key  string
	ls   *leavingServer // stepDrain, stepDelete
}

func (h *HAProxy) runStep(ctx context.Context, st step) error {
	var err error
	if st.cmd.text != "" {
		err = h.do(ctx, st.cmd)
	}
	if err != nil && st.kind == stepDelete && errors.Is(err, errRefused) {
		st.ls.ghost = true
		st.ls.pinned = strings.Contains(err.Error(), refusedForReferences)
		h.leaving[st.key] = st.ls
		return nil
	}
	if err != nil {
		return err
	}
	switch st.kind {
	case stepDrain:
		h.leaving[st.key] = st.ls
	case stepRevive:
		delete(h.leaving, st.key)
	case stepDelete:
		delete(h.leaving, st.key)
		h.rt.count(func(s *RuntimeStats) { s.ServersRemoved++ })
	case stepAdd:
		h.rt.count(func(s *RuntimeStats) { s.ServersAdded++ })
	}
	return nil
}

// planChanges returns the runtime commands that turn the servers of old
// (running as live, with leaving still draining or ghosts) into those of
// cand, which has the same structure: additions and updates first, so a
// pool never runs empty in between, then removals (see planRemoval). It
// fails with a *FallbackError when a difference needs a reload.
func planChanges(old, cand *hapConfig, live liveState, leaving map[string]*leavingServer, hints ApplyHints, drainUntil time.Time) ([]step, error) {
	var adds, removes []step
	for i, ns := range cand.sections {
		if !ns.hasServers() {
			continue
		}
		os := old.sections[i]
		for _, s := range ns.servers {
			st, err := planServer(ns.name, os.server(s.name), s, live[srvKey(ns.name, s.name)], leaving[srvKey(ns.name, s.name)])
			if err != nil {
				return nil, err
			}
			adds = append(adds, st...)
		}
		for _, o := range os.servers {
			key := srvKey(ns.name, o.name)
			if ns.server(o.name) != nil || leaving[key] != nil || live[key] == nil {
				continue
			}
			shut := o.hasAddr && hints.shutAtOnce(o.addr, o.port)
			removes = append(removes, planRemoval(ns.name, o, live[key], shut, drainUntil)...)
		}
	}
	return append(adds, removes...), nil
}

// planServer plans one server of the candidate: o is its line in the
// running file (nil if none), l what the worker runs (nil if nothing), ls
// its leaving entry (nil if none).
func planServer(proxy string, o, s *hapServer, l *liveServer, ls *leavingServer) ([]step, error) {
	key := srvKey(proxy, s.name)
	switch {
	case o != nil && o.line == s.line:
		return nil, nil
	case o != nil:
		if o.static() != s.static() {
			return nil, fallback(FallbackOptions, "server %s changed from %q to %q: only address, port, weight and disabled change at runtime", key, o.line, s.line)
		}
		return updateServer(proxy, s, l, stepPlain)
	case ls != nil:
		if ls.srv.static() != s.static() {
			return nil, fallback(FallbackOptions, "server %s is back as %q, not as the %q still running", key, s.line, ls.srv.line)
		}
		return updateServer(proxy, s, l, stepRevive)
	case l != nil:
		return nil, fallback(FallbackDrift, "server %s runs but neither the installed file nor shoal knows it", key)
	case !s.readable || !s.hasAddr:
		return nil, fallback(FallbackNotAddable, "new server %s: %q is not an IP address with a plain port and known options", key, s.line)
	case s.notAddable != "":
		return nil, fallback(FallbackNotAddable, "new server %s: HAProxy 2.6's add server does not take %q", key, s.notAddable)
	}
	return addServer(proxy, s), nil
}

// updateServer sets a running server's address, weight and state to the
// file's. kind marks the last step (stepRevive: the server stops leaving).
func updateServer(proxy string, s *hapServer, l *liveServer, kind stepKind) ([]step, error) {
	key := srvKey(proxy, s.name)
	if l == nil {
		return nil, fallback(FallbackDrift, "server %s is in the file but does not run", key)
	}
	var steps []step
	if l.addr != s.addr || l.port != s.port {
		if s.port == 0 && l.port != 0 {
			return nil, fallback(FallbackOptions, "server %s loses its port, which the runtime API cannot do", key)
		}
		c := rtCmd{text: fmt.Sprintf("set server %s addr %s", key, s.addr), success: []string{"changed from", "no need to change"}}
		if s.port != 0 {
			c.text += fmt.Sprintf(" port %d", s.port)
		}
		steps = append(steps, step{cmd: c})
	}
	if l.weight != s.weight {
		steps = append(steps, step{cmd: setCmd("set server %s weight %d", key, s.weight)})
	}
	switch {
	case s.disabled && (l.admin&admFMaint == 0 || l.drain()):
		steps = append(steps, step{cmd: setCmd("set server %s state maint", key)})
	case !s.disabled && (l.admin&admFMaint != 0 || (kind == stepRevive && l.drain())):
		// An operator's drain of a server shoal keeps is left alone; one
		// coming back from its own drain is made ready.
		steps = append(steps, step{cmd: setCmd("set server %s state ready", key)})
	}
	if kind == stepRevive {
		steps = append(steps, step{kind: stepRevive, key: key}) // bookkeeping only
	}
	return steps, nil
}

// addServer adds a dynamic server with the file's effective options.
// HAProxy 2.6 creates it in maintenance with its checks off, and applies
// no default-server line, which is why the options include them.
func addServer(proxy string, s *hapServer) []step {
	key := srvKey(proxy, s.name)
	args := append([]string{"add server", key, s.hostPort(), "weight", fmt.Sprint(s.weight)}, s.opts...)
	steps := []step{{cmd: rtCmd{text: strings.Join(args, " "), success: []string{"New server registered."}}, kind: stepAdd, key: key}}
	if hasOption(s.opts, "check") {
		steps = append(steps, step{cmd: setCmd("enable health %s", key)})
	}
	if hasOption(s.opts, "agent-check") {
		steps = append(steps, step{cmd: setCmd("enable agent %s", key)})
	}
	if !s.disabled {
		steps = append(steps, step{cmd: setCmd("set server %s state ready", key)})
	}
	return steps
}

// planRemoval removes a server the candidate no longer lists: at once when
// shut is set (its member failed or its check is critical, the renderer
// says), when there is nothing to drain
// (no sessions) or when its health check found it down; its sessions are
// then shut. Otherwise it drains until drainUntil, or until its sessions
// end. A server already in maintenance takes no new connections, so it
// only waits for its sessions.
func planRemoval(proxy string, o *hapServer, l *liveServer, shut bool, drainUntil time.Time) []step {
	key := srvKey(proxy, o.name)
	ls := &leavingServer{proxy: proxy, srv: o, deadline: drainUntil}
	switch {
	case shut || l.sessions == 0 || (l.opState == srvStopped && l.admin&maintMask == 0):
		return deleteServer(key, l, ls)
	case l.admin&admFMaint != 0:
		return []step{{kind: stepDrain, key: key, ls: ls}} // bookkeeping only
	}
	return []step{{cmd: setCmd("set server %s state drain", key), kind: stepDrain, key: key, ls: ls}}
}

// deleteServer puts a server in maintenance, shuts its sessions if it has
// any, and deletes it; a refused delete leaves a ghost.
func deleteServer(key string, l *liveServer, ls *leavingServer) []step {
	var steps []step
	if l.admin&admFMaint == 0 {
		steps = append(steps, step{cmd: setCmd("set server %s state maint", key)})
	}
	if l.sessions != 0 {
		steps = append(steps, step{cmd: setCmd("shutdown sessions server %s", key)})
	}
	return append(steps, step{cmd: rtCmd{text: "del server " + key, success: []string{"Server deleted."}}, kind: stepDelete, key: key, ls: ls})
}

func hasOption(opts []string, kw string) bool { return slices.Contains(opts, kw) }

// sameStructure returns nil when a and b differ at most in the server lines
// of backend and listen sections, else an error naming the first
// difference.
func sameStructure(a, b *hapConfig) error {
	for i := range max(len(a.sections), len(b.sections)) {
		switch {
		case i >= len(a.sections):
			return fmt.Errorf("section %q is new", b.sections[i].header)
		case i >= len(b.sections):
			return fmt.Errorf("section %q is gone", a.sections[i].header)
		}
		sa, sb := a.sections[i], b.sections[i]
		if sa.header != sb.header {
			return fmt.Errorf("section %q is now %q", sa.header, sb.header)
		}
		for j := range max(len(sa.lines), len(sb.lines)) {
			var la, lb string
			if j < len(sa.lines) {
				la = sa.lines[j]
			}
			if j < len(sb.lines) {
				lb = sb.lines[j]
			}
			if la != lb {
				return fmt.Errorf("in %q: line %q is now %q", sa.header, la, lb)
			}
		}
	}
	return nil
}

// mismatches compares the running servers of cfg's backend and listen
// sections with the file (and the servers still leaving) and describes
// each difference: a server missing or extra, at another address, with
// another weight, in another administrative state.
func mismatches(cfg *hapConfig, live liveState, leaving map[string]*leavingServer) []string {
	var out []string
	proxies := map[string]bool{}
	for _, sec := range cfg.sections {
		if !sec.hasServers() {
			continue
		}
		proxies[sec.name] = true
		for _, s := range sec.servers {
			out = append(out, serverMismatch(srvKey(sec.name, s.name), s, live[srvKey(sec.name, s.name)])...)
		}
	}
	for key, l := range live {
		if !proxies[l.proxy] || cfg.serverIn(l.proxy, l.name) {
			continue
		}
		ls := leaving[key]
		switch {
		case ls == nil:
			out = append(out, key+" runs but is not in the file")
		case ls.ghost && l.admin&admFMaint == 0:
			out = append(out, key+" was removed but is not in maintenance")
		case !ls.ghost && !l.drain() && l.admin&admFMaint == 0:
			out = append(out, key+" was removed but takes new connections")
		}
	}
	slices.Sort(out)
	return out
}

func serverMismatch(key string, s *hapServer, l *liveServer) []string {
	if l == nil {
		return []string{key + " is in the file but does not run"}
	}
	var out []string
	if s.hasAddr && (l.addr != s.addr || l.port != s.port) {
		out = append(out, fmt.Sprintf("%s runs at %s port %d, the file says %s", key, l.addr, l.port, s.hostPort()))
	}
	if !s.readable {
		return out
	}
	// An agent check may set the weight and drain the server itself.
	agent := hasOption(s.opts, "agent-check")
	if l.weight != s.weight && !agent {
		out = append(out, fmt.Sprintf("%s runs with weight %d, the file says %d", key, l.weight, s.weight))
	}
	if maint := l.admin&admFMaint != 0; maint != s.disabled {
		out = append(out, fmt.Sprintf("%s: maintenance is %t, the file says disabled=%t", key, maint, s.disabled))
	}
	// A drain of a listed server is an operator's: a server line cannot
	// say it, so it is not drift (the server state file keeps it across
	// reloads). shoal's own drains are of servers the file no longer lists.
	return out
}

func (c *hapConfig) serverIn(proxy, name string) bool {
	for _, sec := range c.sections {
		if sec.hasServers() && sec.name == proxy && sec.server(name) != nil {
			return true
		}
	}
	return false
}
