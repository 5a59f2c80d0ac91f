// Package procfs reads process relationships from Linux's /proc, which is
// how the nginx backend sees whether a reload replaced the master's workers.
// Elsewhere (procfs_other.go) every call reports that it is unsupported.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Supported returns nil: Linux has /proc.
func Supported() error { return nil }

// Children returns the PIDs of the live processes whose parent is pid, in
// ascending order. It scans /proc/<n>/stat rather than
// /proc/<pid>/task/*/children because the latter needs a kernel option that
// some distributions leave out.
func Children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process directory
		}
		ppid, err := parentOf(child)
		if err != nil {
			continue // the process exited while we looked
		}
		if ppid == pid {
			children = append(children, child)
		}
	}
	slices.Sort(children)
	return children, nil
}

// parentOf reads the PPID field of /proc/<pid>/stat. The command name in
// field 2 is in parentheses and may itself contain spaces and parentheses,
// so the fields are counted from the last ')'.
func parentOf(pid int) (int, error) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := bytes.Fields(stat[end+1:])
	// After the name: state, ppid, ...
	if len(fields) < 2 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.Atoi(string(fields[1]))
}

// Alive reports whether a process with this PID exists and is not a zombie.
func Alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 || end+2 >= len(stat) {
		return false
	}
	return stat[end+2] != 'Z'
}
