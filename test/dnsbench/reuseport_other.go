//go:build !linux

package main

import "syscall"

// sockets: one socket read by a loop per CPU, as shoal does off Linux.
func sockets(int) int { return 1 }

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
