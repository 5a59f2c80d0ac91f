package render

import (
	"cmp"
	"fmt"
	"strconv"

	"github.com/shoal-dev/shoal/node"
)

// Injection guard.
//
// Node names, tags, services (names, ids, tags, meta) and checks come from
// other machines by gossip. A value with a newline, a quote, a brace or a
// semicolon could end a line of haproxy.cfg or nginx.conf and start one of
// its own ("server evil ..."), so every such value must match a strict
// pattern before it reaches a template. Escaping is not an option: HAProxy
// and nginx quote differently and a template can put a value anywhere. A
// member with any unsafe name, tag, id or meta is left out of the render
// data as a whole; rendering it partially would be a guess. Check ids,
// names and notes are free text for people to read ("HTTP 503"), not
// identities, so they are made safe instead (safeText).

// maxValueLen bounds a single value; gossip meta is 512 bytes anyway.
const maxValueLen = 255

// nameChars are allowed in node names and tag keys: hostname characters.
// valueChars are allowed in tag values and service tags: hostname characters
// plus ":", "/", "=", "+" (versions, paths, key=value).
// Service names are nameChars without ".", since "tag.name" selects by tag.
var (
	nameChars    = charset(alnum + "-_.")
	serviceChars = charset(alnum + "-_")
	valueChars   = charset(alnum + "-_.:/=+")
)

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func charset(chars string) *[256]bool {
	var set [256]bool
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return &set
}

func matches(s string, set *[256]bool, emptyOK bool) bool {
	if len(s) > maxValueLen || (s == "" && !emptyOK) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !set[s[i]] {
			return false
		}
	}
	return true
}

// checkMember returns why m must be left out of the render data, or "" if
// every value it carries is safe.
func checkMember(m *node.Member) string {
	if !matches(m.Name, nameChars, false) {
		return fmt.Sprintf("node name %s is not safe in a config file", quoteUnsafe(m.Name))
	}
	if len(m.Addr) == 0 || m.Addr.IsUnspecified() {
		return "no usable address"
	}
	for k, v := range m.Tags {
		if reason := tagProblem(k, v); reason != "" {
			return reason
		}
	}
	ids := make(map[string]bool, len(m.Services))
	for _, s := range m.Services {
		if reason := checkService(s); reason != "" {
			return reason
		}
		id := cmp.Or(s.ID, s.Name)
		if ids[id] {
			// Two would share one server name.
			return fmt.Sprintf("service %s: instance id %s is used twice", s.Name, id)
		}
		ids[id] = true
	}
	return ""
}

// checkService returns why instance s is not safe, or "". Its ID goes
// into server names (Instance.ServerName), so it takes the characters of
// node names, and its meta those of tags. Its checks are free text and
// are made safe instead (safeText): a note such as "HTTP 503" must not
// take a member out of the load balancer.
func checkService(s node.Service) string {
	if !matches(s.Name, serviceChars, false) {
		return fmt.Sprintf("service name %s is not safe in a config file", quoteUnsafe(s.Name))
	}
	if s.Port == 0 {
		return fmt.Sprintf("service %s has port 0", s.Name)
	}
	if !matches(s.ID, nameChars, true) {
		return fmt.Sprintf("service %s instance id %s is not safe in a config file", s.Name, quoteUnsafe(s.ID))
	}
	for _, t := range s.Tags {
		if !matches(t, valueChars, false) {
			return fmt.Sprintf("service %s tag %s is not safe in a config file", s.Name, quoteUnsafe(t))
		}
	}
	for k, v := range s.Meta {
		if !matches(k, nameChars, false) {
			return fmt.Sprintf("service %s meta key %s is not safe in a config file", s.Name, quoteUnsafe(k))
		}
		if !matches(v, valueChars, true) {
			return fmt.Sprintf("service %s meta %s value %s is not safe in a config file", s.Name, k, quoteUnsafe(v))
		}
	}
	return ""
}

// safeText returns free text from another machine (a check's ID, name or
// note) with every byte outside valueChars replaced by "_", cut to
// maxValueLen: readable ("HTTP 503" reads "HTTP_503"), and unable to end
// a line, start a comment or add a keyword.
func safeText(s string) string {
	if matches(s, valueChars, true) {
		return s
	}
	b := []byte(s[:min(len(s), maxValueLen)])
	for i, c := range b {
		if !valueChars[c] {
			b[i] = '_'
		}
	}
	return string(b)
}

// tagProblem returns why the tag k=v is not safe in a config file, or "".
// Only the tags a template reads are checked (reads.go).
func tagProblem(k, v string) string {
	if !matches(k, nameChars, false) {
		return fmt.Sprintf("tag key %s is not safe in a config file", quoteUnsafe(k))
	}
	if !matches(v, valueChars, true) {
		return fmt.Sprintf("tag %s value %s is not safe in a config file", k, quoteUnsafe(v))
	}
	return ""
}

// quoteUnsafe makes a hostile value safe to log: quoted, escaped, bounded.
func quoteUnsafe(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// Floor guard.
//
// A node cut off from most of the cluster sees most members fail. Rendering
// that view would empty the load balancer's pools exactly when the rest of
// the cluster is fine, so a template can refuse a render that uses fewer
// backends than a floor, or that drops more than a fraction of the backends
// the installed file has.

// Floor holds a template's guard settings.
type Floor struct {
	// MinBackends is the least number of backends (service instances the
	// template used through the service and services functions) a render
	// must have to be installed. 0 disables the check.
	MinBackends int
	// MaxDropFraction, when in (0, 1], refuses a render whose backend count
	// is lower than the installed file's by more than this fraction of it
	// (0.5: losing more than half at once is refused). 0 disables it.
	MaxDropFraction float64
}

// check returns an error when a render using used backends must not replace
// a file that used installed backends (installed < 0: unknown).
func (f Floor) check(used, installed int) error {
	if used < f.MinBackends {
		return fmt.Errorf("render used %d backends, below min_backends %d", used, f.MinBackends)
	}
	if f.MaxDropFraction > 0 && installed > 0 && used < installed {
		dropped := float64(installed-used) / float64(installed)
		if dropped > f.MaxDropFraction {
			return fmt.Errorf("render drops %d of %d backends (%.0f%%), more than max drop %.0f%%",
				installed-used, installed, dropped*100, f.MaxDropFraction*100)
		}
	}
	return nil
}
