package metrics

import "sync"

// processCollector reports the process's CPU, memory and file descriptors
// under the names and HELP texts of the Prometheus client's process
// collector, from what the OS offers (process_linux.go reads /proc;
// elsewhere less is reported).
type processCollector struct {
	once  sync.Once
	descs *processDescs
	boot  float64 // Linux: boot time, seconds since 1970, read once
}

// NewProcessCollector returns the process collector. Like the Go
// collector it builds nothing before the first scrape.
func NewProcessCollector() Collector { return &processCollector{} }

type processDescs struct {
	cpu, openFDs, maxFDs, vsize, maxVsize, rss, start, netIn, netOut *Desc
}

func newProcessDescs() *processDescs {
	return &processDescs{
		cpu:      NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterKind),
		openFDs:  NewDesc("process_open_fds", "Number of open file descriptors.", GaugeKind),
		maxFDs:   NewDesc("process_max_fds", "Maximum number of open file descriptors.", GaugeKind),
		vsize:    NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeKind),
		maxVsize: NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", GaugeKind),
		rss:      NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", GaugeKind),
		start:    NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeKind),
		netIn:    NewDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", CounterKind),
		netOut:   NewDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", CounterKind),
	}
}

// Collect reports what the OS tells of the process.
func (c *processCollector) Collect(s *Scrape) {
	c.once.Do(func() {
		c.descs = newProcessDescs()
		c.boot = bootTime()
	})
	c.collect(s, c.descs)
}
