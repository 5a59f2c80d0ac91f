package node

import (
	"strings"
	"testing"
)

func TestValidNamesAndTagKeys(t *testing.T) {
	cases := []struct {
		s         string
		name, key bool
	}{
		{"", false, false},
		{"web-1", true, true},
		{"a.b_c", true, true},
		{"-a", false, true},
		{"_a", false, true},
		{"a b", false, false},
		{"a/b", false, false},
		{"é", false, false},
		{"a\n", false, false},
		{strings.Repeat("a", 63), true, true},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), true, false},
		{strings.Repeat("a", 128), true, false}, // Serf's limit
		{strings.Repeat("a", 129), false, false},
	}
	for _, c := range cases {
		if got := ValidName(c.s); got != c.name {
			t.Errorf("validName(%q) = %v, want %v", c.s, got, c.name)
		}
		if got := ValidTagKey(c.s); got != c.key {
			t.Errorf("validTagKey(%q) = %v, want %v", c.s, got, c.key)
		}
	}
	if err := CheckTags(map[string]string{"bad key": "v"}); err == nil || !strings.Contains(err.Error(), `tag key "bad key"`) {
		t.Errorf("checkTags with a bad key: %v, want an error naming the key", err)
	}
}
