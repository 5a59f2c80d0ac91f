package config

import (
	"regexp"
	"strings"
	"testing"
)

// isDNSLabel accepts exactly what the regexp it replaced accepted.
func TestIsDNSLabel_MatchesTheRegexpItReplaced(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	cases := []string{"", "a", "-", "a-", "-a", "a-b", "web", "Web-2", "a--b", "a_b", "a.b", "é",
		"0", "9z", strings.Repeat("a", 63), strings.Repeat("a", 64), "a" + strings.Repeat("-", 61) + "b",
		"a" + strings.Repeat("-", 62) + "b", "a b", "a\n"}
	for _, s := range cases {
		if got, want := isDNSLabel(s), re.MatchString(s); got != want {
			t.Errorf("isDNSLabel(%q) = %v, want %v", s, got, want)
		}
	}
}
