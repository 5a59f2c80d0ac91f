//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseNofile lifts this process's RLIMIT_NOFILE to at least want, raising
// the hard limit too when allowed (root), since a flood of held
// connections needs a descriptor each. It returns the soft limit in force.
func raiseNofile(want uint64) (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if r.Cur >= want {
		return r.Cur, nil
	}
	next := syscall.Rlimit{Cur: want, Max: max(r.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		// Not root: take what the hard limit allows.
		next = syscall.Rlimit{Cur: r.Max, Max: r.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err2 != nil {
			return r.Cur, fmt.Errorf("setrlimit nofile %d: %w", want, err)
		}
	}
	return next.Cur, nil
}
