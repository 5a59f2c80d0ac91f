package render

import "time"

// TemplateStatus is the state of one template, as the agent's API serves it
// and its metrics export it. Counters only grow.
type TemplateStatus struct {
	Name        string
	Source      string
	Destination string
	Backend     string // the backend's Name(), "" without one

	// LastRender is when the last render attempt finished.
	LastRender time.Time
	// OK is false when the last attempt failed (template error, floor
	// guard, validation, write, reload); Error then says why, with the load
	// balancer's own message for validation and reload failures.
	OK    bool
	Error string
	// State says what the load balancer runs: StateOK, StateFailed (the
	// last attempt failed before installing; the installed file stays and
	// is live) or StateReloadFailed (a new file is installed but its reload
	// failed, so the load balancer still runs the previous one).
	State string
	// ReloadPending is true in StateReloadFailed: the reload is retried
	// with exponential backoff (ReloadRetryMin doubling to ReloadRetryMax)
	// until it takes; NextReloadRetry is when the next try is due.
	ReloadPending   bool
	NextReloadRetry time.Time
	// TemplateError is set while the template source on disk does not parse;
	// renders go on with the last good parse.
	TemplateError string

	// Hash is the sha256 (hex) of the installed destination file, "" if
	// there is none.
	Hash string
	// Backends is the backend count of the last render that passed the
	// floor guard.
	Backends int
	// Excluded lists the members left out of the last render's data
	// because their values were unsafe.
	Excluded []Exclusion

	Renders  uint64 // render attempts
	Installs uint64 // renders that changed the destination file
	Failures uint64 // failed attempts, of any kind
	Reloads  uint64 // successful backend reloads after this template changed
	// Applied counts installs the backend applied to the running load
	// balancer without a reload (HAProxy's Runtime API).
	Applied uint64
	// Forced counts renders that RenderNow or RenderWait asked for, done.
	Forced uint64
}

// The values of TemplateStatus.State.
const (
	StateOK           = "ok"
	StateFailed       = "failed"
	StateReloadFailed = "installed, reload failed"
)

// ReloadRetryMin and ReloadRetryMax bound the backoff between retries of a
// failed reload: the first retry waits ReloadRetryMin, each next one twice
// as long, up to ReloadRetryMax.
const (
	ReloadRetryMin = time.Second
	ReloadRetryMax = 30 * time.Second
)

// Installed is passed to Config.OnInstall after a render changed a
// destination file, so the agent can announce the new config hash.
type Installed struct {
	Name        string
	Destination string
	Hash        string
	Backends    int
}

// Result is the outcome of rendering one template, returned by Once.
type Result struct {
	Name        string
	Destination string
	// Content is what was (or, in dry mode, would be) written.
	Content []byte
	// Changed is true when Content differs from the installed file.
	Changed  bool
	Hash     string // sha256 hex of Content
	Backends int
	Err      error
}
