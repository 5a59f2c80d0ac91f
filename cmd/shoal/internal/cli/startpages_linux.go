package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropStartupPages tells the kernel that the agent no longer needs the
// pages of its own executable that start-up touched, and returns how many
// kB of them were mapped before and after.
//
// Start-up (package init across ~350 packages, config parsing, the first
// joins) touches code and tables all over the binary, and the kernel maps
// each touched page with its neighbours (fault-around), so a fresh agent
// keeps most of its executable mapped although an idle one runs a small
// part of it. MADV_DONTNEED on the executable's read-only mappings (code,
// read-only data, the function tables) unmaps those pages from this
// process; they stay in the page cache, shared and reclaimable, and
// whatever the agent runs again faults back in from there with no disk
// I/O. Read-only mappings hold no private copies, so nothing is lost:
// this changes what the process holds mapped (VmRSS, RssFile), not what
// it can do. Writable mappings (data, heap) are left alone.
func dropStartupPages() (beforeKB, afterKB int, err error) {
	beforeKB, err = rssFileKB()
	if err != nil {
		return 0, 0, err
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, 0, fmt.Errorf("executable: %w", err)
	}
	spans, err := readOnlyMappings(exe)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range spans {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s[0], s[1]-s[0], syscall.MADV_DONTNEED); errno != 0 {
			return 0, 0, fmt.Errorf("madvise %#x-%#x: %w", s[0], s[1], errno)
		}
	}
	afterKB, err = rssFileKB()
	return beforeKB, afterKB, err
}

// readOnlyMappings returns the [start, end) of every mapping of file exe
// in /proc/self/maps that is readable and neither writable nor shared.
func readOnlyMappings(exe string) ([][2]uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("mappings: %w", err)
	}
	defer f.Close()
	var spans [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || strings.Join(fs[5:], " ") != exe {
			continue
		}
		if perms := fs[1]; perms != "r-xp" && perms != "r--p" {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("mappings: bad range %q", fs[0])
		}
		spans = append(spans, [2]uintptr{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mappings: %w", err)
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("mappings: no read-only mapping of %s", exe)
	}
	return spans, nil
}

// rssFileKB is this process's file-backed resident memory (RssFile).
func rssFileKB() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("status: no RssFile line")
}
