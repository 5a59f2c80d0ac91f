//go:build !unix

package metrics

// collect reports nothing where neither /proc nor getrusage exist
// (Windows): the process metrics are left out there.
func (c *processCollector) collect(*Scrape, *processDescs) {}

func bootTime() float64 { return 0 }
