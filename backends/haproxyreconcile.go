package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxGhosts is how many removed servers may stay in maintenance, because
// "del server" refused them, before a reload clears them.
const maxGhosts = 16

// drainPoll is how often Reconcile wants to run while servers drain or
// ghosts wait for their delete.
const drainPoll = time.Second

// RuntimeStats counts what the HAProxy backend did to keep HAProxy current.
// Counters only grow; Draining and Ghosts are current values.
type RuntimeStats struct {
	// Applies counts configuration changes made through the Runtime API
	// without a reload.
	Applies uint64
	// Commands counts runtime commands sent (reads of the state aside).
	Commands uint64
	// ServersAdded and ServersRemoved count "add server" and "del server".
	ServersAdded, ServersRemoved uint64
	// Reloads counts successful reloads, for any reason.
	Reloads uint64
	// Fallbacks counts changes that needed a reload instead of the Runtime
	// API, FallbackReasons the same by reason (the Fallback* constants),
	// and LastFallback says why the last one did, in full.
	Fallbacks       uint64
	FallbackReasons map[string]uint64
	LastFallback    string
	// Reconciles counts comparisons of the running servers with the
	// installed file outside a change.
	Reconciles uint64
	// DriftRepairs counts reloads because the running servers disagreed
	// with the installed file (found by a reconcile, or before a change);
	// LastDrift says how.
	DriftRepairs uint64
	LastDrift    string
	// Draining is how many removed servers drain; Ghosts how many stay in
	// maintenance because HAProxy refused to delete them yet.
	Draining, Ghosts int
	// StateFileWrites counts server state files written before a reload;
	// StateFileSkips reloads made without one although the configuration
	// loads one (the socket did not answer, the file could not be
	// written), and LastStateFileError says why the last was skipped.
	StateFileWrites, StateFileSkips uint64
	LastStateFileError              string
}

// runtimeStats guards the counters, which status readers read while the
// renderer's goroutine changes them.
type runtimeStats struct {
	mu sync.Mutex
	s  RuntimeStats
}

func (r *runtimeStats) count(f func(*RuntimeStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.s)
}

func (r *runtimeStats) fallback(err error) {
	reason := FallbackUnavailable
	var fe *FallbackError
	if errors.As(err, &fe) {
		reason = fe.Reason
	}
	r.count(func(s *RuntimeStats) {
		s.Fallbacks++
		if s.FallbackReasons == nil {
			s.FallbackReasons = map[string]uint64{}
		}
		s.FallbackReasons[reason]++
		s.LastFallback = err.Error()
	})
}

func (r *runtimeStats) drift(m []string) {
	r.count(func(s *RuntimeStats) {
		s.DriftRepairs++
		s.LastDrift = strings.Join(m, "; ")
	})
}

// RuntimeStats returns a copy of the runtime path's counters.
func (h *HAProxy) RuntimeStats() RuntimeStats {
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	s := h.rt.s
	s.FallbackReasons = maps.Clone(s.FallbackReasons)
	return s
}

// setLeavingGauges updates Draining and Ghosts; the caller holds opMu.
func (h *HAProxy) setLeavingGauges() {
	var draining, ghosts int
	for _, ls := range h.leaving {
		if ls.ghost {
			ghosts++
		} else {
			draining++
		}
	}
	h.rt.count(func(s *RuntimeStats) { s.Draining, s.Ghosts = draining, ghosts })
}

// NextReconcile says how soon Reconcile wants to run again: within a
// second while removed servers drain or wait to retry their delete, else
// after the configured reconcile interval.
func (h *HAProxy) NextReconcile() time.Duration {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	for _, ls := range h.leaving {
		if !ls.pinned {
			return min(drainPoll, h.cfg.ReconcileInterval)
		}
	}
	return h.cfg.ReconcileInterval
}

// Reconcile finishes removals and compares the running servers with
// installed, the file on disk. A draining server whose sessions ended or
// whose drain timeout passed is put in maintenance, its sessions shut and
// it is deleted; a ghost's delete is retried unless it is pinned. When the
// running servers still disagree with the file, or more than maxGhosts
// ghosts remain, Reconcile reloads HAProxy and returns what it found. It
// returns "" when everything agreed or the runtime path is off.
func (h *HAProxy) Reconcile(ctx context.Context, installed []byte) (string, error) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	defer h.setLeavingGauges()
	if h.runtimeAvailable() != nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	cfg, err := parseHAProxyConfig(installed)
	if err != nil {
		return "", fmt.Errorf("reconcile: installed configuration: %w", err)
	}
	h.next = cfg
	h.rt.count(func(s *RuntimeStats) { s.Reconciles++ })
	if err := h.finishLeaving(ctx); err != nil {
		return "", fmt.Errorf("reconcile: %w", err)
	}
	var found []string
	if n := len(h.leaving); n > maxGhosts {
		found = []string{fmt.Sprintf("%d removed servers could not be deleted (limit %d)", n, maxGhosts)}
		h.rt.fallback(fallback(FallbackGhosts, "%s", found[0]))
	} else {
		live, err := h.readLive(ctx, false)
		if err != nil {
			return "", fmt.Errorf("reconcile: %w", err)
		}
		if found = mismatches(cfg, live, h.leaving); len(found) == 0 {
			return "", nil
		}
		h.rt.drift(found)
	}
	what := strings.Join(found, "; ")
	if err := h.reload(ctx); err != nil {
		return what, fmt.Errorf("reconcile: repair %s: %w", what, err)
	}
	return what, nil
}

// finishLeaving deletes the draining servers that are done and retries the
// ghosts' deletes. The caller holds opMu.
func (h *HAProxy) finishLeaving(ctx context.Context) error {
	if len(h.leaving) == 0 {
		return nil
	}
	live, err := h.readLive(ctx, true)
	if err != nil {
		return err
	}
	h.forgetGone(live)
	now := time.Now()
	for _, key := range slices.Sorted(maps.Keys(h.leaving)) {
		ls, l := h.leaving[key], live[key]
		if ls.pinned || (!ls.ghost && l.sessions != 0 && now.Before(ls.deadline)) {
			continue // not deletable before a reload, or still draining
		}
		for _, st := range deleteServer(key, l, ls) {
			if err := h.runStep(ctx, st); err != nil {
				// A server that cannot even go to maintenance keeps
				// traffic the file no longer has: only a reload helps.
				h.rt.fallback(&FallbackError{Reason: FallbackDrainFailed, Err: err})
				return h.reload(ctx)
			}
		}
	}
	return nil
}

// Reload makes haproxy load the installed configuration; see reload. A
// successful reload also ends the removals in progress: the new worker
// has only the file's servers.
func (h *HAProxy) Reload(ctx context.Context) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	defer h.setLeavingGauges()
	return h.reload(ctx)
}

// reload is Reload for callers holding opMu.
func (h *HAProxy) reload(ctx context.Context) error {
	if !h.cfg.NoReload {
		h.saveServerState(ctx)
	}
	if err := h.reloadProcess(ctx); err != nil {
		return err
	}
	clear(h.leaving)
	h.rt.count(func(s *RuntimeStats) { s.Reloads++ })
	return nil
}
