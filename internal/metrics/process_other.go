//go:build !unix && !windows

package metrics

// collect reports nothing where the OS offers neither /proc, getrusage
// nor GetProcessTimes.
func (c *processCollector) collect(*Scrape, *processDescs) {}

func bootTime() float64 { return 0 }
