//go:build !windows

package handlers

// shell runs a handler's command line, as Serf does off Windows.
var shell = [2]string{"/bin/sh", "-c"}
