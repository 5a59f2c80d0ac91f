// Package atomicfile writes a file so that a reader, or a crash, sees the
// old content or the new, never half of either. It is stdlib only, so
// every package may use it (node's keyring and snapshot, the agent's tags
// file, render's destination files).
//
// WriteFile is the one-step form. Create and Commit split it for a caller
// that checks the new file before it goes in place: render validates the
// staged file with the load balancer (haproxy -c -f), then commits it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to a temp file next to path with mode perm,
// fsyncs it, and renames it over path. On failure path is untouched and
// the temp file is removed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	p, err := Create(path, data, perm)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is a new file written and synced next to its destination, not
// yet in place.
type Pending struct {
	path string // destination
	tmp  string
}

// Create writes data with mode perm to a new temp file in path's
// directory (so the rename stays on one file system and is atomic) and
// fsyncs it: after a crash the destination holds either the old file or
// the whole new one, never a truncated one.
func Create(path string, data []byte, perm os.FileMode) (_ *Pending, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &Pending{path: path, tmp: f.Name()}, nil
}

// Name is the temp file's path, to check it before Commit.
func (p *Pending) Name() string { return p.tmp }

// Commit renames the temp file over the destination and syncs the
// directory, so the rename itself survives a crash. On failure the temp
// file is removed and the destination is untouched.
func (p *Pending) Commit() error {
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	if d, err := os.Open(filepath.Dir(p.path)); err == nil {
		d.Sync() // best effort: some file systems refuse to sync a directory
		d.Close()
	}
	return nil
}

// Discard removes the temp file; the destination is untouched.
func (p *Pending) Discard() { os.Remove(p.tmp) }
