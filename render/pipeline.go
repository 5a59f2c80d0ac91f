package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/internal/atomicfile"
	"github.com/shoal-dev/shoal/node"
)

// job is one template's way through a batch.
type job struct {
	ts       *tmplState
	res      Result
	tmp      *atomicfile.Pending // staged, validated candidate waiting to be installed
	stage    string              // what failed: "render", "floor guard", "validate", ...
	reload   bool                // the backend must reload for this template
	reloaded bool
	// wasPending: this reload made live a file whose earlier reload failed.
	wasPending bool
	forced     bool // RenderNow asked for this render
	// running is the installed file before this render (nil if none),
	// which the load balancer runs unless a reload is pending.
	running []byte
	applied bool // the backend applied the change without a reload
	// excluded lists the members left out of this template's data.
	excluded []Exclusion
	// interrupted: the step failed because ctx ended (the agent is
	// shutting down), not because of the file.
	interrupted bool
}

func (j *job) fail(stage string, err error) {
	j.stage, j.res.Err = stage, err
}

// batch renders tmpls from one snapshot: render all, stage and validate each
// candidate, install the valid ones, then reload each backend once. With
// runtime set, a backend that can apply a change to the running load
// balancer (backends.RuntimeApplier) does so instead of reloading when it
// can. A failure at any step keeps that template's last good file and is
// logged and recorded in its status; the others go on.
func (r *Runner) batch(ctx context.Context, snap *node.Snapshot, tmpls []*tmplState, runtime bool) []Result {
	r.batchMu.Lock()
	defer r.batchMu.Unlock()

	data := newBatchData(snap)
	hints := applyHints(snap)
	jobs := make([]*job, len(tmpls))
	for i, ts := range tmpls {
		d := data.forTemplate(ts)
		jobs[i] = &job{ts: ts, res: Result{Name: ts.cfg.Name, Destination: ts.cfg.Destination}, excluded: d.Excluded()}
		r.logExclusions(ts, jobs[i].excluded)
		r.prepare(ctx, d, jobs[i])
	}
	for _, j := range jobs {
		if j.tmp == nil {
			continue
		}
		if err := install(j.tmp, j.ts.cfg.Destination, j.ts.cfg.Backup); err != nil {
			j.fail("install", err)
			continue
		}
		j.res.Changed = true
		if !j.ts.cfg.NoReload {
			j.applied = runtime && r.applyRuntime(ctx, j, hints)
			j.reload = !j.applied
		}
	}
	r.reloadBackends(ctx, jobs)

	results := make([]Result, len(jobs))
	var installed []Installed
	for i, j := range jobs {
		j.interrupted = j.stage != "" && ctx.Err() != nil
		r.record(j, j.excluded)
		results[i] = j.res
		if j.res.Changed && !r.cfg.Dry && (j.stage == "" || j.stage == "reload") {
			installed = append(installed, Installed{
				Name: j.res.Name, Destination: j.res.Destination,
				Hash: j.res.Hash, Backends: j.res.Backends,
			})
		}
	}
	if r.cfg.OnInstall != nil {
		for _, in := range installed {
			r.cfg.OnInstall(in)
		}
	}
	return results
}

// prepare renders one template, applies the floor guard, compares with the
// installed file and, when it differs, stages and validates a candidate.
func (r *Runner) prepare(ctx context.Context, data *Data, j *job) {
	ts := j.ts
	force := ts.force || ts.reloadPending
	j.forced = ts.force
	ts.force = false

	d := *data // shallow: shared, read-only data; only Vars differ
	d.Vars = ts.cfg.Vars
	if d.Vars == nil {
		d.Vars = map[string]string{}
	}
	content, n, err := ts.t.Execute(&d)
	if err != nil {
		j.fail("render", err)
		return
	}
	if err := ts.floor.check(n, ts.installedN); err != nil {
		j.fail("floor guard", fmt.Errorf("%w; keeping the installed file", err))
		return
	}
	j.res.Content, j.res.Backends, j.res.Hash = content, n, hashOf(content)

	running, err := os.ReadFile(ts.cfg.Destination)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		j.fail("compare", fmt.Errorf("read %s: %w", ts.cfg.Destination, err))
		return
	}
	same := err == nil && bytes.Equal(running, content)
	if err == nil {
		j.running = running
	}
	if r.cfg.Dry {
		j.res.Changed = !same
		return
	}
	if same {
		j.reload = force && ts.cfg.Backend != nil && !ts.cfg.NoReload
		return
	}
	tmp, err := stage(ts.cfg.Destination, content, ts.cfg.Perms)
	if err != nil {
		j.fail("write", err)
		return
	}
	if b := ts.cfg.Backend; b != nil {
		// The backend bounds the call with its own timeout.
		if err := b.Validate(ctx, tmp.Name()); err != nil {
			tmp.Discard()
			// The backend's error names it and carries its own message.
			j.fail("validate", err)
			return
		}
	}
	j.tmp = tmp
}

// applyRuntime asks the template's backend to apply the installed change
// to the running load balancer without a reload, and reports whether it
// did. It does not try when the load balancer may not run the previous
// file (no previous file, a reload pending) or a reload was asked for.
func (r *Runner) applyRuntime(ctx context.Context, j *job, hints backends.ApplyHints) bool {
	ra, ok := j.ts.cfg.Backend.(backends.RuntimeApplier)
	if !ok || j.running == nil || j.forced || j.ts.reloadPending {
		return false
	}
	applied, err := ra.Apply(ctx, j.running, j.res.Content, hints)
	if !applied {
		r.log.Info("change needs a reload", "template", j.ts.cfg.Name, "backend", ra.Name(), "reason", err)
	}
	return applied
}

// applyHints tells the backend what the files cannot: which instances are
// gone because their member failed, or because their health check is
// critical (their servers are shut at once), as opposed to left, in
// maintenance or no longer offered (they drain). It reads the current
// snapshot alone: the backend consults it only for servers the new file
// drops, so a listed instance is one that was routable and no longer is.
func applyHints(snap *node.Snapshot) backends.ApplyHints {
	var h backends.ApplyHints
	for i := range snap.Members {
		m := &snap.Members[i]
		failed := m.Status == node.StatusFailed
		if !failed && !m.Status.AliveOrSuspect() {
			continue
		}
		for _, s := range m.Services {
			ip := s.Address
			if ip == nil {
				ip = m.Addr
			}
			addr, ok := netip.AddrFromSlice(ip)
			if !ok {
				continue
			}
			ap := netip.AddrPortFrom(addr.Unmap(), s.Port)
			switch {
			case failed:
				h.Failed = append(h.Failed, ap)
			case s.Health == node.HealthCritical || m.Health == node.HealthCritical:
				h.Critical = append(h.Critical, ap)
			}
		}
	}
	return h
}

// reconcile asks the template's backend to compare the running load
// balancer with the installed file, which repairs a difference, and
// schedules the next reconcile. A template whose last reload failed is
// skipped: its load balancer runs an older file.
func (r *Runner) reconcile(ctx context.Context, ts *tmplState) {
	ra, ok := ts.cfg.Backend.(backends.RuntimeApplier)
	if !ok {
		return
	}
	defer r.scheduleReconcile(ts)
	if ts.reloadPending {
		return
	}
	installed, err := os.ReadFile(ts.cfg.Destination)
	if err != nil {
		return // nothing installed yet: nothing runs from it
	}
	drift, err := ra.Reconcile(ctx, installed)
	log := r.log.With("template", ts.cfg.Name, "backend", ra.Name())
	switch {
	case err != nil:
		log.Error("reconcile failed", "drift", drift, "err", err)
	case drift != "":
		log.Warn("running load balancer differed from the installed file; reloaded", "drift", drift)
	}
}

// scheduleReconcile sets when the template's backend next reconciles, if it
// is one that does.
func (r *Runner) scheduleReconcile(ts *tmplState) {
	ra, ok := ts.cfg.Backend.(backends.RuntimeApplier)
	if !ok || ts.cfg.NoReload || r.cfg.Dry {
		return
	}
	ts.reconcileAt = time.Time{}
	if d := ra.NextReconcile(); d > 0 {
		ts.reconcileAt = r.cfg.Clock.Now().Add(d)
	}
}

// reloadBackends reloads each backend that has a job wanting it, once, and
// marks the jobs that share it.
func (r *Runner) reloadBackends(ctx context.Context, jobs []*job) {
	done := make([]bool, len(jobs))
	for i, j := range jobs {
		if done[i] || !j.reload || j.ts.cfg.Backend == nil {
			continue
		}
		b := j.ts.cfg.Backend
		err := b.Reload(ctx) // bounded by the backend's own timeout
		for k := i; k < len(jobs); k++ {
			o := jobs[k]
			if !o.reload || !(k == i || sameBackend(b, o.ts.cfg.Backend)) {
				continue
			}
			done[k] = true
			if err != nil {
				// The new file is installed but not in use: retry the
				// reload, backing off, even if nothing changes.
				r.reloadFailed(o.ts)
				o.fail("reload", fmt.Errorf("%s reload: %w", b.Name(), err))
				continue
			}
			o.wasPending = o.ts.reloadPending
			o.ts.reloadPending, o.ts.retryAt, o.ts.backoff = false, time.Time{}, 0
			o.reloaded = true
		}
	}
}

// reloadFailed marks ts's installed file as not live and schedules the next
// reload retry: ReloadRetryMin after the first failure, twice the last
// wait after each further one, at most ReloadRetryMax.
func (r *Runner) reloadFailed(ts *tmplState) {
	ts.reloadPending = true
	ts.backoff = min(max(2*ts.backoff, ReloadRetryMin), ReloadRetryMax)
	ts.retryAt = r.cfg.Clock.Now().Add(ts.backoff)
}

// record updates the template's status from the job and logs the outcome.
func (r *Runner) record(j *job, excluded []Exclusion) {
	ts := j.ts
	now := r.cfg.Clock.Now()
	r.statusMu.Lock()
	st := &ts.st
	st.LastRender = now
	st.Renders++
	st.Excluded = excluded
	if j.stage == "" || j.stage == "reload" {
		if !r.cfg.Dry && j.res.Hash != "" {
			// The destination now holds this content (installed, or equal).
			st.Hash, st.Backends = j.res.Hash, j.res.Backends
			ts.installedN = j.res.Backends
		}
		if j.res.Changed && !r.cfg.Dry {
			st.Installs++
		}
	}
	if j.reloaded {
		st.Reloads++
	}
	if j.applied && j.stage == "" {
		st.Applied++
	}
	if j.forced {
		st.Forced++
	}
	st.OK, st.Error, st.State = true, "", StateOK
	if j.stage != "" {
		st.OK, st.Error, st.State = false, fmt.Sprintf("%s: %v", j.stage, j.res.Err), StateFailed
		st.Failures++
	}
	st.ReloadPending, st.NextReloadRetry = ts.reloadPending, time.Time{}
	if ts.reloadPending {
		// Whatever this attempt did, the installed file is not live.
		st.OK, st.State, st.NextReloadRetry = false, StateReloadFailed, ts.retryAt
	}
	r.statusMu.Unlock()
	r.logOutcome(j)
}

// logOutcome logs what a render did, saying whether the installed file is
// live: after a failed reload it is not.
func (r *Runner) logOutcome(j *job) {
	ts := j.ts
	log := r.log.With("template", ts.cfg.Name, "destination", ts.cfg.Destination)
	switch {
	case j.interrupted:
		log.Info("render cut short by shutdown", "stage", j.stage, "err", j.res.Err)
	case j.stage == "reload":
		log.Error("installed, but the reload failed: the load balancer still runs the previous config; retrying",
			"hash", j.res.Hash, "retry_in", ts.backoff, "err", j.res.Err)
	case j.stage != "" && ts.reloadPending:
		log.Error("render failed; the installed file stays, and it is not live until a reload takes",
			"stage", j.stage, "err", j.res.Err)
	case j.stage != "":
		log.Error("render failed; the installed file stays and the load balancer keeps running it",
			"stage", j.stage, "err", j.res.Err)
	case r.cfg.Dry:
		log.Info("dry run", "changed", j.res.Changed, "hash", j.res.Hash, "backends", j.res.Backends)
	case j.res.Changed:
		log.Info("installed", "hash", j.res.Hash, "backends", j.res.Backends, "reloaded", j.reloaded, "applied", j.applied)
	case j.wasPending:
		log.Info("reload took after earlier failures: the installed file is live", "hash", j.res.Hash)
	case j.reloaded:
		log.Info("reloaded unchanged file", "hash", j.res.Hash)
	default:
		log.Debug("unchanged", "hash", j.res.Hash)
	}
}
