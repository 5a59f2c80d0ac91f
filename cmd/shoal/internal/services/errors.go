package services

import "errors"

// Errors the registry wraps, so that callers (the agent's API) can tell
// what kind of refusal an error is without reading its words. Any other
// error means the values were refused (a validation message).
var (
	// ErrNotFound: no service instance with that ID.
	ErrNotFound = errors.New("no such service")
	// ErrNoCheck: no check with that ID.
	ErrNoCheck = errors.New("no such check")
	// ErrConflict: the ID belongs to a config service, which only the
	// config files change.
	ErrConflict = errors.New("conflict")
	// ErrStorage: the state file could not be written; nothing changed
	// (or, for a ttl update, the new status holds until a restart).
	ErrStorage = errors.New("state not kept")
)

// kindError marks an error as one of the kinds above without changing
// its message.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

func withKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return kindError{kind, err}
}
