//go:build linux

package agent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// trimText unmaps this process's resident pages of its own executable's
// read-only mappings (code and read-only data). Start-up (flag and HCL
// parsing, metric registration, protobuf and TLS initialisation) touches
// megabytes of code an idle agent never runs again, and the kernel's
// fault-around keeps it mapped. This does what reclaim under memory
// pressure would do, earlier: read-only private file pages are never
// modified, so whatever the agent runs afterwards faults back in from the
// page cache, and resident memory settles to the working set. Writable
// mappings are skipped: dropping them would lose data.
// It returns how many bytes of mappings were released.
func trimText() (released int) {
	exe, err := os.Executable()
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno == 0 {
			released += int(end - start)
		}
	}
	return released
}
