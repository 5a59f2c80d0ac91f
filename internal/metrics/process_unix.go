//go:build unix && !linux

package metrics

import "syscall"

// collect reports what every Unix offers without /proc: CPU time and the
// file descriptor limit.
func (c *processCollector) collect(s *Scrape, d *processDescs) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.Add(d.cpu, float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		s.Add(d.maxFDs, float64(lim.Cur))
	}
}

func bootTime() float64 { return 0 }
