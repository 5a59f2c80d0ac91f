package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/internal/atomicfile"
)

// Keyring changes travel as internal queries, so every member installs,
// switches to or removes a key and reports back; the caller sees, node by
// node, who did and who failed.
const (
	queryInstallKey = reservedPrefix + "-install-key"
	queryUseKey     = reservedPrefix + "-use-key"
	queryRemoveKey  = reservedPrefix + "-remove-key"
	queryListKeys   = reservedPrefix + "-list-keys"
)

// keyQueryMinTimeout is the shortest a keyring operation waits for answers.
const keyQueryMinTimeout = 5 * time.Second

// KeyResponse is the cluster-wide result of a keyring operation.
type KeyResponse struct {
	// Messages holds each failing node's error text.
	Messages map[string]string
	NumNodes int
	NumResp  int
	NumErr   int
	// Keys counts, per base64 key, the nodes that have it installed.
	Keys map[string]int
	// PrimaryKeys counts, per base64 key, the nodes that use it as primary.
	PrimaryKeys map[string]int
}

type keyResult struct {
	OK      bool
	Message string
	Keys    [][]byte
	Primary []byte
}

// walk: the key list needs a loop of its own in each direction, so
// keyResult keeps separate encode and decode.
func (m *keyResult) walk(f fields) {
	if f.e != nil {
		m.encode(f.e)
	} else {
		m.decode(f.d)
	}
}

func (m *keyResult) encode(e *encoder) {
	e.boolean(m.OK)
	e.str(m.Message)
	e.uvarint(uint64(len(m.Keys)))
	for _, k := range m.Keys {
		e.bytes(k)
	}
	e.bytes(m.Primary)
}

func (m *keyResult) decode(d *decoder) {
	m.OK = d.boolean()
	m.Message = d.str()
	for c := d.count(1); c > 0 && d.err == nil; c-- {
		m.Keys = append(m.Keys, d.bytes())
	}
	m.Primary = d.bytes()
}

// loadKeyring builds the gossip keyring from the keyring file or the
// configured keys. No file and no keys: no encryption. A keyring file fails
// closed, as Serf's does: one that is missing, unreadable, empty or holds
// no valid key stops the node, because gossiping in clear while the
// operator believes the cluster is keyed would let anyone join it. The one
// exception: a missing file with Keys given is created from them, so the
// keyring changes made later have a home.
func loadKeyring(cfg Config) (*memberlist.Keyring, error) {
	keys := cfg.Keys
	if cfg.KeyringFile != "" {
		fromFile, err := readKeyringFile(cfg.KeyringFile)
		switch {
		case err == nil:
			keys = fromFile
		case errors.Is(err, os.ErrNotExist) && len(keys) > 0:
			kr, err := newKeyring(keys)
			if err == nil {
				err = writeKeyringFile(cfg.KeyringFile, kr)
			}
			return kr, err
		default:
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return newKeyring(keys)
}

func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return kr, nil
}

// readKeyringFile reads a keyring file: a JSON list of base64 AES keys
// (16, 24 or 32 bytes), primary first. Every way it can fail names the file
// and the problem; a missing file's error wraps os.ErrNotExist.
func readKeyringFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("keyring file %s does not exist (create it with: echo \"[\\\"$(shoal keygen)\\\"]\" > %s): %w", path, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring file %s cannot be read: %w", path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("keyring file %s is empty: want a JSON list of base64 keys from `shoal keygen`", path)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("keyring file %s: want a JSON list of base64 keys: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("keyring file %s holds no keys: add one from `shoal keygen`", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("keyring file %s: key %d is not base64: %w", path, i+1, err)
		}
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("keyring file %s: key %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Encrypted reports whether gossip is encrypted: whether the keyring that
// memberlist uses holds a key. It asks the keyring in force, not the
// configuration.
func (n *Node) Encrypted() bool {
	return n.keyring != nil && len(n.keyring.GetKeys()) > 0
}

// writeKeyringFile stores the keyring, primary first, atomically.
func writeKeyringFile(path string, kr *memberlist.Keyring) error {
	primary := kr.GetPrimaryKey()
	encoded := []string{base64.StdEncoding.EncodeToString(primary)}
	for _, k := range kr.GetKeys() {
		if string(k) != string(primary) {
			encoded = append(encoded, base64.StdEncoding.EncodeToString(k))
		}
	}
	data, _ := json.MarshalIndent(encoded, "", "  ")
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write keyring file: %w", err)
	}
	return nil
}

// InstallKey adds a base64 key to every member's keyring.
func (n *Node) InstallKey(key string) (*KeyResponse, error) { return n.keyOp(queryInstallKey, key) }

// UseKey makes an installed key primary on every member.
func (n *Node) UseKey(key string) (*KeyResponse, error) { return n.keyOp(queryUseKey, key) }

// RemoveKey removes a key, which must not be primary, from every member.
func (n *Node) RemoveKey(key string) (*KeyResponse, error) { return n.keyOp(queryRemoveKey, key) }

// ListKeys asks every member which keys it has.
func (n *Node) ListKeys() (*KeyResponse, error) { return n.keyOp(queryListKeys, "") }

func (n *Node) keyOp(op, key string) (*KeyResponse, error) {
	var raw []byte
	if op != queryListKeys {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(key); err != nil {
			return nil, fmt.Errorf("key is not valid base64: %w", err)
		}
		if err := memberlist.ValidateKey(raw); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
	}
	if n.keyring == nil {
		return nil, errors.New("gossip encryption is not enabled on this node; start it with a key to manage keys")
	}
	out := &KeyResponse{
		Messages: map[string]string{}, Keys: map[string]int{}, PrimaryKeys: map[string]int{},
		NumNodes: n.Stats().Alive,
	}
	// Key changes wait for every member; the default query timeout is
	// tuned for gossip speed and can be shorter than a loaded member's
	// answer. The wait ends early once every alive member answered.
	timeout := max(n.DefaultQueryTimeout(), keyQueryMinTimeout)
	qr, err := n.query(op, raw, &QueryParams{Timeout: timeout}, queryFlagInternal)
	if err != nil {
		return nil, err
	}
	for resp := range qr.ResponseCh() {
		out.NumResp++
		var res keyResult
		if err := decodeMessage(resp.Payload, &res); err != nil {
			out.NumErr++
			out.Messages[resp.From] = fmt.Sprintf("unreadable response: %v", err)
		} else if !res.OK {
			out.NumErr++
			out.Messages[resp.From] = res.Message
		}
		for _, k := range res.Keys {
			out.Keys[base64.StdEncoding.EncodeToString(k)]++
		}
		if len(res.Primary) > 0 {
			out.PrimaryKeys[base64.StdEncoding.EncodeToString(res.Primary)]++
		}
		if out.NumResp >= out.NumNodes {
			qr.Close()
		}
	}
	switch {
	case out.NumErr > 0:
		return out, fmt.Errorf("%d of %d nodes reported an error", out.NumErr, out.NumNodes)
	case out.NumResp < out.NumNodes:
		return out, fmt.Errorf("only %d of %d nodes answered before the deadline", out.NumResp, out.NumNodes)
	}
	return out, nil
}

// handleInternalQuery runs a keyring operation locally and responds.
func (n *Node) handleInternalQuery(q *Query) {
	res := keyResult{OK: true}
	kr := n.keyring
	var err error
	switch {
	case kr == nil:
		err = errors.New("gossip encryption is not enabled on this node")
	case q.Name == queryInstallKey:
		err = kr.AddKey(q.Payload)
	case q.Name == queryUseKey:
		err = kr.UseKey(q.Payload)
	case q.Name == queryRemoveKey:
		err = kr.RemoveKey(q.Payload)
	case q.Name == queryListKeys:
	default:
		err = fmt.Errorf("unknown internal query %q", q.Name)
	}
	if err == nil && kr != nil && q.Name != queryListKeys && n.cfg.KeyringFile != "" {
		err = writeKeyringFile(n.cfg.KeyringFile, kr)
	}
	if err != nil {
		res.OK, res.Message = false, err.Error()
		n.logger.Warn("keyring operation failed", "op", q.Name, "err", err)
	} else if kr != nil {
		res.Keys, res.Primary = kr.GetKeys(), kr.GetPrimaryKey()
	}
	if err := q.Respond(encodeBody(&res)); err != nil {
		n.logger.Warn("keyring response failed", "op", q.Name, "err", err)
	}
}
