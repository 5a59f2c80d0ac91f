// Package procstat reads a process's CPU time from /proc, for the
// harness's benchmarks (the test package) and shoaltool alike.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ), 100
// on every Linux architecture Go supports.
const userHZ = 100

// CPUTime returns the CPU time (user + system) process pid has used so far;
// pid 0 means this process.
func CPUTime(pid int) (time.Duration, error) {
	return ticks(pid, 11) // utime (field 14) and stime (field 15)
}

// ChildrenCPUTime returns the CPU time (user + system) of the children
// process pid has waited for, such as the handler scripts an agent ran.
func ChildrenCPUTime(pid int) (time.Duration, error) {
	return ticks(pid, 13) // cutime (field 16) and cstime (field 17)
}

// ticks adds the two clock-tick fields of /proc/PID/stat that start i
// fields after the command name.
func ticks(pid, i int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis start with field 3 (state).
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("cpu time: %s: no ')' in %q", path, b)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < i+2 {
		return 0, fmt.Errorf("cpu time: %s: %d fields after the name, want %d or more", path, len(f), i+2)
	}
	var sum uint64
	for _, s := range f[i : i+2] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: %s: %w", path, err)
		}
		sum += n
	}
	return time.Duration(sum) * time.Second / userHZ, nil
}
