package node

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNode_KeyringFileFailsClosed: every keyring file that would leave
// gossip in clear, or half-keyed, stops New with an error that names the
// file and the problem.
func TestNode_KeyringFileFailsClosed(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	good := base64.StdEncoding.EncodeToString(newKey(t))
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.json"), "does not exist (create it with: echo"},
		{"unreadable (a directory)", dir, "cannot be read"},
		{"empty", file("empty.json", ""), "is empty"},
		{"blank", file("blank.json", " \n"), "is empty"},
		{"empty list", file("list.json", "[]"), "holds no keys"},
		{"null", file("null.json", "null"), "holds no keys"},
		{"not JSON", file("text.json", good), "want a JSON list of base64 keys"},
		{"not base64", file("b64.json", `["not base64!"]`), "key 1 is not base64"},
		{"wrong key length", file("len.json", `["`+good+`","`+short+`"]`), "key 2: key size must be 16, 24 or 32 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig("kr")
			cfg.KeyringFile = c.path
			n, err := New(cfg, nil)
			if err == nil {
				t.Fatalf("New with keyring file %s: got a node (encrypted %v), want an error", c.path, n.Encrypted())
			}
			if !strings.Contains(err.Error(), "keyring file "+c.path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %q, want it to name the file %s and say %q", err, c.path, c.want)
			}
		})
	}
}

// TestNode_KeyringFileInForce: a node keyed from its keyring file reports
// encryption because its keyring holds the keys, primary first, and an
// unkeyed node cannot join it. A missing file is created from Keys.
func TestNode_KeyringFileInForce(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := newKey(t), newKey(t)
	b64 := base64.StdEncoding.EncodeToString
	path := filepath.Join(dir, "keyring.json")
	body, _ := json.Marshal([]string{b64(k1), b64(k2)})
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("keyed")
	cfg.KeyringFile = path
	a := startNode(t, cfg)
	if !a.Encrypted() || !a.Stats().Encrypted {
		t.Fatalf("node from keyring file: Encrypted %v, Stats.Encrypted %v; want true", a.Encrypted(), a.Stats().Encrypted)
	}
	if got := a.keyring.GetPrimaryKey(); string(got) != string(k1) || len(a.keyring.GetKeys()) != 2 {
		t.Errorf("keyring: %d keys, primary %s; want 2, primary the file's first", len(a.keyring.GetKeys()), b64(got))
	}
	plain := startNode(t, testConfig("plain"))
	if plain.Encrypted() {
		t.Error("node without keys reports encryption")
	}
	if _, err := plain.Join([]string{a.addr()}, false); err == nil {
		t.Fatal("an unkeyed node joined a node keyed from its keyring file")
	}

	seeded := filepath.Join(dir, "seeded.json")
	cfg = withKeys(testConfig("seeded"), k2)
	cfg.KeyringFile = seeded
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("missing keyring file with Keys: %v", err)
	}
	data, err := os.ReadFile(seeded)
	if err != nil || !strings.Contains(string(data), b64(k2)) || !n.Encrypted() {
		t.Errorf("missing file with Keys: file %q (%v), encrypted %v; want the file created with the key", data, err, n.Encrypted())
	}
	if fi, err := os.Stat(seeded); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("created keyring file mode: %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
