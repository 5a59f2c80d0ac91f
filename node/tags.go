package node

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Node meta carries a member's tags and services. Layout (see codec.go):
//
//	version(1) | n | n x (key, value) | m | m x (name, port, weight, k, k x tag)
//
// Keys and services are sorted so equal sets encode to equal bytes, and
// lengths are varints, so a typical member fits in a few dozen bytes of
// memberlist's 512-byte limit.
const metaVersion = 1

func checkTags(tags map[string]string) error {
	for k, v := range tags {
		if !validTagKey(k) {
			return fmt.Errorf("tag key %q: must be 1-64 letters, digits, '_', '.' or '-'", k)
		}
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			return fmt.Errorf("tag %s: value has a control character at byte %d", k, i)
		}
		if !utf8.ValidString(v) {
			// A stray byte such as 0x9b is a terminal control sequence
			// introducer on some terminals.
			return fmt.Errorf("tag %s: value is not valid UTF-8", k)
		}
	}
	return nil
}

func checkServices(services []Service) error {
	seen := map[string]bool{}
	for _, s := range services {
		if !validTagKey(s.Name) {
			return fmt.Errorf("service %q: name must be 1-64 letters, digits, '_', '.' or '-'", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("service %q: declared twice", s.Name)
		}
		seen[s.Name] = true
		if s.Port == 0 {
			return fmt.Errorf("service %s: port must be 1-65535", s.Name)
		}
		if s.Weight < 0 || s.Weight > 65535 {
			return fmt.Errorf("service %s: weight %d must be 0-65535", s.Name, s.Weight)
		}
		for _, t := range s.Tags {
			if !validTagKey(t) {
				return fmt.Errorf("service %s: tag %q must be 1-64 letters, digits, '_', '.' or '-'", s.Name, t)
			}
		}
	}
	return nil
}

// encodeMeta validates and encodes tags and services, refusing a set that
// does not fit in memberlist's node meta.
func encodeMeta(tags map[string]string, services []Service) ([]byte, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	if err := checkServices(services); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	svcs := append([]Service(nil), services...)
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })

	e := encoder{}
	e.u8(metaVersion)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(tags[k])
	}
	e.uvarint(uint64(len(svcs)))
	for _, s := range svcs {
		e.str(s.Name)
		e.uvarint(uint64(s.Port))
		e.uvarint(uint64(s.Weight))
		e.uvarint(uint64(len(s.Tags)))
		for _, t := range s.Tags {
			e.str(t)
		}
	}
	if len(e.buf) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("tags and services encode to %d bytes, %d over memberlist's %d-byte node meta limit",
			len(e.buf), len(e.buf)-memberlist.MetaMaxSize, memberlist.MetaMaxSize)
	}
	return e.buf, nil
}

// decodeMeta reads another member's meta and applies the rules encodeMeta
// applies to our own (checkTags, checkServices): remote meta that this
// node would refuse to send is an error, so the member is kept out of the
// view (see checkMember).
func decodeMeta(buf []byte) (map[string]string, []Service, error) {
	tags := map[string]string{}
	if len(buf) == 0 {
		return tags, nil, nil
	}
	if len(buf) > memberlist.MetaMaxSize {
		return tags, nil, fmt.Errorf("node meta of %d bytes: over memberlist's %d-byte limit", len(buf), memberlist.MetaMaxSize)
	}
	d := decoder{buf: buf}
	if v := d.u8(); v != metaVersion {
		return tags, nil, fmt.Errorf("node meta version %d: this agent reads version %d", v, metaVersion)
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		k := d.str()
		tags[k] = d.str()
	}
	var services []Service
	for n := d.count(4); n > 0 && d.err == nil; n-- {
		s := Service{Name: d.str(), Port: uint16(d.uvarint()), Weight: int(d.uvarint())}
		for t := d.count(1); t > 0 && d.err == nil; t-- {
			s.Tags = append(s.Tags, d.str())
		}
		services = append(services, s)
	}
	if err := d.done(); err != nil {
		return map[string]string{}, nil, fmt.Errorf("decode node meta: %w", err)
	}
	if err := checkTags(tags); err != nil {
		return map[string]string{}, nil, fmt.Errorf("node meta: %w", err)
	}
	if err := checkServices(services); err != nil {
		return map[string]string{}, nil, fmt.Errorf("node meta: %w", err)
	}
	return tags, services, nil
}
