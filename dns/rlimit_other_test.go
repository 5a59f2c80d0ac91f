//go:build !linux

package dns

import "testing"

// raiseNoFile skips the test: raising RLIMIT_NOFILE is written for Linux,
// whose Rlimit fields the other systems type differently.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	t.Skipf("needs %d open files; raising RLIMIT_NOFILE is written for Linux", n)
}
