package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile_ReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new\n" {
		t.Fatalf("content: got %q, %v, want %q", b, err, "new\n")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temp left)", len(entries))
	}
}

func TestWriteFile_FailureLeavesTargetAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory where the file should go: the rename fails.
	path := filepath.Join(dir, "f.json")
	if err := os.MkdirAll(filepath.Join(path, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err == nil {
		t.Fatal("write over a non-empty directory: got no error")
	}
	if st, err := os.Stat(filepath.Join(path, "keep")); err != nil || !st.IsDir() {
		t.Errorf("the target changed: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the target (temp removed)", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f.json"), []byte("new"), 0o600); err == nil {
		t.Error("write into a missing directory: got no error")
	}
}

// Create stages a file a caller can check (render validates it with the
// load balancer) before Commit puts it in place; Discard drops it.
func TestCreate_CommitOrDiscard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Create(path, []byte("bad"), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p.Name()); string(b) != "bad" || filepath.Dir(p.Name()) != dir {
		t.Fatalf("staged file %s holds %q, want %q next to the target", p.Name(), b, "bad")
	}
	p.Discard()
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after Discard the target holds %q, want %q", b, "old")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after Discard the directory holds %d entries, want 1", len(entries))
	}
	p, err = Create(path, []byte("good"), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "good" {
		t.Errorf("after Commit the target holds %q, want %q", b, "good")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode: got %v, want 0640", st.Mode().Perm())
	}
}
