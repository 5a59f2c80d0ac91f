package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/shoal-dev/shoal/internal/atomicfile"
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

// stage writes content to a new temp file in dest's directory, synced
// (internal/atomicfile), with dest's current mode, or perms when dest does
// not exist and perms is set. The caller validates the staged file, then
// installs or discards it.
func stage(dest string, content []byte, perms fs.FileMode) (*atomicfile.Pending, error) {
	mode := DefaultPerms
	if perms != 0 {
		mode = perms
	}
	if fi, err := os.Stat(dest); err == nil {
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", dest, err)
	}
	return atomicfile.Create(dest, content, mode)
}

// install puts the staged file in place of dest, first keeping the current
// dest as dest.bak when backup is set.
func install(p *atomicfile.Pending, dest string, backup bool) error {
	if backup {
		bak := dest + ".bak"
		// A hard link is atomic and keeps the old file's mode; a missing
		// dest (first render) simply has nothing to back up.
		if err := os.Remove(bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.Discard()
			return fmt.Errorf("remove old backup %s: %w", bak, err)
		}
		if err := os.Link(dest, bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.Discard()
			return fmt.Errorf("backup %s: %w", dest, err)
		}
	}
	return p.Commit()
}
