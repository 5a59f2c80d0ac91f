package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// MemberFilter selects members by status, name and tag regular
// expressions, all anchored like Serf's.
type MemberFilter struct {
	status, name *regexp.Regexp
	tags         map[string]*regexp.Regexp
}

// NewMemberFilter compiles status and name (either may be empty) and
// KEY=REGEX tag filters.
func NewMemberFilter(status string, tags []string, name string) (*MemberFilter, error) {
	f := &MemberFilter{tags: map[string]*regexp.Regexp{}}
	var err error
	if status != "" {
		if f.status, err = regexp.Compile("^(?:" + status + ")$"); err != nil {
			return nil, fmt.Errorf("status filter: %w", err)
		}
	}
	if name != "" {
		if f.name, err = regexp.Compile("^(?:" + name + ")$"); err != nil {
			return nil, fmt.Errorf("name filter: %w", err)
		}
	}
	for _, t := range tags {
		// KEY=REGEXP: a filter, not a tag, so the tag rules do not apply.
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("tag filter %q: not KEY=REGEXP", t)
		}
		if f.tags[k], err = regexp.Compile("^(?:" + v + ")$"); err != nil {
			return nil, fmt.Errorf("tag filter %s: %w", k, err)
		}
	}
	return f, nil
}

// Match reports whether m passes every filter.
func (f *MemberFilter) Match(m Member) bool {
	if f.status != nil && !f.status.MatchString(m.Status) {
		return false
	}
	if f.name != nil && !f.name.MatchString(m.Name) {
		return false
	}
	for k, re := range f.tags {
		v, ok := m.Tags[k]
		if !ok || !re.MatchString(v) {
			return false
		}
	}
	return true
}

// members answers GET /v1/members?status=REGEX&name=REGEX&tag=KEY=REGEX...
func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := NewMemberFilter(q.Get("status"), q["tag"], q.Get("name"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	out := []Member{}
	for _, m := range s.agent.Members() {
		if am := MemberFrom(m); f.Match(am) {
			out = append(out, am)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
