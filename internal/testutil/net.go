package testutil

import (
	"net"
	"testing"
)

// LoopbackInterface returns the loopback interface's name ("lo" on Linux,
// "lo0" on BSDs), and skips the test when there is none.
func LoopbackInterface(t testing.TB) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}
