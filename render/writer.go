package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultPerms is the mode of a destination file that does not exist yet.
const DefaultPerms fs.FileMode = 0o644

// hashOf is the content hash shoal reports and announces: sha256, hex.
func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sameAsInstalled reports whether dest already holds exactly content. A
// missing destination is not an error: it differs.
func sameAsInstalled(dest string, content []byte) (bool, error) {
	old, err := os.ReadFile(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", dest, err)
	}
	return bytes.Equal(old, content), nil
}

// installedHash returns the hash of the file at dest, "" if there is none.
func installedHash(dest string) string {
	b, err := os.ReadFile(dest)
	if err != nil {
		return ""
	}
	return hashOf(b)
}

// stage writes content to a new temp file in dest's directory (so the final
// rename stays on one file system and is atomic), with dest's current mode
// (or perms, when dest does not exist and perms is set), synced to disk. The
// caller validates the temp file, then installs or removes it.
func stage(dest string, content []byte, perms fs.FileMode) (string, error) {
	mode := DefaultPerms
	if perms != 0 {
		mode = perms
	}
	if fi, err := os.Stat(dest); err == nil {
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("stat %s: %w", dest, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".shoal-*")
	if err != nil {
		return "", fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if _, err := f.Write(content); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := f.Chmod(mode); err != nil {
		return fail(fmt.Errorf("chmod %s: %w", tmp, err))
	}
	// Sync before the rename: after a crash the destination holds either
	// the old file or the whole new one, never a truncated one.
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("close %s: %w", tmp, err)
	}
	return tmp, nil
}

// install renames the staged file tmp over dest, first keeping the current
// dest as dest.bak when backup is set. The directory is synced so the rename
// itself survives a crash.
func install(tmp, dest string, backup bool) error {
	if backup {
		bak := dest + ".bak"
		// A hard link is atomic and keeps the old file's mode; a missing
		// dest (first render) simply has nothing to back up.
		if err := os.Remove(bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove old backup %s: %w", bak, err)
		}
		if err := os.Link(dest, bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup %s: %w", dest, err)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", dest, err)
	}
	if d, err := os.Open(filepath.Dir(dest)); err == nil {
		d.Sync() // best effort: some file systems refuse to sync a directory
		d.Close()
	}
	return nil
}
