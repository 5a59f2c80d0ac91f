package metrics

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of /proc's CPU times and start time: 100 on every
// Linux that Go runs on (the Prometheus client assumes it too).
const userHZ = 100

// collect reads /proc/self and the resource limits. A part that cannot be
// read is left out, as the Prometheus client did.
func (c *processCollector) collect(s *Scrape, d *processDescs) {
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		// The fields after the command name, which is in parentheses and
		// may hold spaces: state is fields[0], the 3rd field of stat(5).
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			f := bytes.Fields(stat[i+1:])
			field := func(n int) float64 { // n as numbered in proc(5)
				if n-3 >= len(f) {
					return 0
				}
				v, _ := strconv.ParseUint(string(f[n-3]), 10, 64)
				return float64(v)
			}
			s.Add(d.cpu, (field(14)+field(15))/userHZ)
			s.Add(d.vsize, field(23))
			s.Add(d.rss, field(24)*float64(os.Getpagesize()))
			if c.boot > 0 {
				s.Add(d.start, c.boot+field(22)/userHZ)
			}
		}
	}
	if fds, err := countFDs(); err == nil {
		s.Add(d.openFDs, float64(fds))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		s.Add(d.maxFDs, float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		s.Add(d.maxVsize, float64(lim.Cur))
	}
	if in, out, ok := netOctets(); ok {
		s.Add(d.netIn, in)
		s.Add(d.netOut, out)
	}
}

func countFDs() (int, error) {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	return len(names), err
}

// bootTime is btime of /proc/stat: when the system booted, the epoch of a
// process's start time in /proc/self/stat.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			t, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return float64(t)
		}
	}
	return 0
}

// netOctets reads the IP bytes received and sent (IpExt InOctets and
// OutOctets of /proc/self/net/netstat: the network namespace's, as the
// Prometheus client reported them).
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var header [][]byte
	for line := range bytes.Lines(b) {
		rest, found := bytes.CutPrefix(line, []byte("IpExt:"))
		if !found {
			continue
		}
		if header == nil {
			header = bytes.Fields(rest)
			continue
		}
		values := bytes.Fields(rest)
		var gotIn, gotOut bool
		for i, name := range header {
			if i >= len(values) {
				break
			}
			v, err := strconv.ParseFloat(string(values[i]), 64)
			switch {
			case err != nil:
			case string(name) == "InOctets":
				in, gotIn = v, true
			case string(name) == "OutOctets":
				out, gotOut = v, true
			}
		}
		return in, out, gotIn && gotOut
	}
	return 0, 0, false
}
