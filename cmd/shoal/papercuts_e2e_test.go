package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2E_ForceLeaveErrorNamesTheVerbOnce: the error used to read
// `shoal force-leave: force-leave: force-leave "x": no such member`.
func TestE2E_ForceLeaveErrorNamesTheVerbOnce(t *testing.T) {
	a := startAgent(t, "n1", nil)
	r := shoal(t, a, "force-leave", "ghost")
	if r.code != 1 || strings.Count(r.stderr, "force-leave") != 1 || !strings.Contains(r.stderr, `"ghost"`) {
		t.Fatalf("shoal force-leave ghost: got exit %d, stderr %q; want 1 and one line naming force-leave once and \"ghost\"", r.code, r.stderr)
	}
}

// TestE2E_KeysErrorIsAMessage: a failed key operation used to print the
// agent's raw JSON answer (`shoal keys: {"num_nodes":1,...}`).
func TestE2E_KeysErrorIsAMessage(t *testing.T) {
	key := gossipKey(t)
	a := startAgent(t, "n1", nil, "-encrypt", key)
	r := shoal(t, a, "keys", "-remove", key) // the primary key cannot go
	want := "shoal keys: 1 of 1 nodes reported an error\nshoal keys: n1: removing the primary key is not allowed\n"
	if r.code != 1 || r.stderr != want {
		t.Fatalf("shoal keys -remove PRIMARY: got exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

// TestE2E_SnapshotDirIsCreated: snapshot_path in a directory that did not
// exist used to stop the agent (open snapshot: no such file or directory).
func TestE2E_SnapshotDirIsCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "shoal")
	a := startAgent(t, "n1", nil, "-snapshot", filepath.Join(dir, "snapshot"))
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("snapshot dir: got %v, %v; want a directory with mode 0700", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot")); err != nil {
		t.Fatalf("snapshot file: %v", err)
	}
	mustShoal(t, a, "members")
}

// TestE2E_ValidateRejectsWhatHAProxyRejects: shoal validate renders the
// template and the real haproxy -c refuses it; nothing is written to the
// destination and the error carries haproxy's message.
func TestE2E_ValidateRejectsWhatHAProxyRejects(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "bad.tmpl")
	dest := filepath.Join(dir, "out", "haproxy.cfg")
	cfg := filepath.Join(dir, "lb.hcl")
	write(t, tmpl, "global\n    no-such-keyword {{ len .Members }}\n")
	write(t, cfg, `node_name = "lb"
encrypt = "`+gossipKey(t)+`"
template {
  source = "`+tmpl+`"
  destination = "`+dest+`"
  master_socket = "`+filepath.Join(dir, "master.sock")+`"
}
`)
	r := shoal(t, nil, "validate", "-config-file", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "haproxy rejected") || !strings.Contains(r.stderr, "no-such-keyword") {
		t.Fatalf("shoal validate: got exit %d, stdout %q, stderr %q; want 1 and haproxy's complaint about no-such-keyword", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Dir(dest)); !os.IsNotExist(err) {
		t.Fatalf("validate touched the destination's directory: %v", err)
	}

	write(t, cfg, `node_name = "lb"
bind = "127.0.0.1:7946"
unknown_key = 1
`)
	r = shoal(t, nil, "validate", "-config-file", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "unknown_key") {
		t.Fatalf("shoal validate (unknown key): got exit %d, stderr %q; want 1 naming unknown_key", r.code, r.stderr)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestE2E_ValidateAcceptsEmptyEncrypt: `encrypt = ""`, as the README's
// config example once had it, means no key like any other empty string;
// it used to be rejected.
func TestE2E_ValidateAcceptsEmptyEncrypt(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.hcl")
	write(t, cfg, "node_name = \"a\"\nencrypt = \"\"\nkeyring_file = \"\"\n")
	if r := shoal(t, nil, "validate", "-config-file", cfg); r.code != 0 {
		t.Fatalf("shoal validate: got exit %d, stderr %q; want 0", r.code, r.stderr)
	}
}
