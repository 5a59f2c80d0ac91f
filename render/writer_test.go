package render

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriter_StageInstallKeepsModeAndBackup(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "haproxy.cfg")
	writeFile(t, dest, "old\n")
	if err := os.Chmod(dest, 0o640); err != nil {
		t.Fatal(err)
	}
	tmp, err := stage(dest, []byte("new\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(tmp.Name()) != dir {
		t.Errorf("temp file in %s, want the destination's directory %s", filepath.Dir(tmp.Name()), dir)
	}
	if got := readFile(t, dest); got != "old\n" {
		t.Errorf("staging changed the destination: got %q", got)
	}
	if err := install(tmp, dest, true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "new\n" {
		t.Errorf("destination: got %q, want %q", got, "new\n")
	}
	if got := readFile(t, dest+".bak"); got != "old\n" {
		t.Errorf("backup: got %q, want %q", got, "old\n")
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode: got %v, want 0640", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want 2 (destination and backup)", len(entries))
	}
}

func TestWriter_NewFileUsesPerms(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "nginx.conf")
	tmp, err := stage(dest, []byte("x"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := install(tmp, dest, true); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", fi.Mode().Perm())
	}
	same, err := sameAsInstalled(dest, []byte("x"))
	if err != nil || !same {
		t.Errorf("sameAsInstalled: got %v, %v, want true", same, err)
	}
}
