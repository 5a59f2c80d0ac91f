package node

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Node meta carries a member's tags only, as in Serf. Services and health
// travel in the member's catalog record (catalog.go), which has no 512-byte
// limit. Layout (see codec.go):
//
//	version(1) | n | n x (key, value)
//
// Keys are sorted so equal sets encode to equal bytes, and lengths are
// varints. Version 2: version 1 also carried services.
const metaVersion = 2

// CheckTags reports the first tag that breaks the rules: keys as
// ValidTagKey, values printable UTF-8.
func CheckTags(tags map[string]string) error {
	for k, v := range tags {
		if !ValidTagKey(k) {
			return fmt.Errorf("tag key %q: must be 1-64 letters, digits, '_', '.' or '-'", k)
		}
		// No length limit here: encodeMeta says by how much the whole
		// set is over memberlist's.
		if err := checkText(v, len(v)); err != nil {
			return fmt.Errorf("tag %s: value %w", k, err)
		}
	}
	return nil
}

// checkText accepts valid UTF-8 of at most max bytes without control
// characters: text that ends up in logs, terminals and config files.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("is %d bytes, over the %d-byte limit", len(s), max)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("has a control character at byte %d", i)
	}
	if !utf8.ValidString(s) {
		// A stray byte such as 0x9b is a terminal control sequence
		// introducer on some terminals.
		return fmt.Errorf("is not valid UTF-8")
	}
	return nil
}

// encodeMeta validates and encodes tags, refusing a set that does not fit
// in memberlist's node meta.
func encodeMeta(tags map[string]string) ([]byte, error) {
	if err := CheckTags(tags); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e := encoder{}
	e.u8(metaVersion)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(tags[k])
	}
	if len(e.buf) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("tags encode to %d bytes, %d over memberlist's %d-byte node meta limit",
			len(e.buf), len(e.buf)-memberlist.MetaMaxSize, memberlist.MetaMaxSize)
	}
	return e.buf, nil
}

// decodeMeta reads another member's meta and applies the rules encodeMeta
// applies to our own: remote meta that this node would refuse to send is
// an error, so the member is kept out of the view (see checkMember).
func decodeMeta(buf []byte) (map[string]string, error) {
	tags := map[string]string{}
	if len(buf) == 0 {
		return tags, nil
	}
	if len(buf) > memberlist.MetaMaxSize {
		return tags, fmt.Errorf("node meta of %d bytes: over memberlist's %d-byte limit", len(buf), memberlist.MetaMaxSize)
	}
	d := decoder{buf: buf}
	if v := d.u8(); v != metaVersion {
		return tags, fmt.Errorf("node meta version %d: this agent reads version %d", v, metaVersion)
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		k := d.str()
		tags[k] = d.str()
	}
	if err := d.done(); err != nil {
		return map[string]string{}, fmt.Errorf("decode node meta: %w", err)
	}
	if err := CheckTags(tags); err != nil {
		return map[string]string{}, fmt.Errorf("node meta: %w", err)
	}
	return tags, nil
}
