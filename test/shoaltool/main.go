// Command shoaltool is the multi-host harness's helper, run inside host
// namespaces: an HTTP backend that answers with its host name (and can
// serve a flapping health path), a bounded HTTP load generator, a holder
// of long-lived keep-alive connections, a bounded flood of random bytes,
// a watcher of one name's DNS answers; and, for
// test/pressure.sh, a dead DNS upstream and a latency probe of an agent
// under floods of connections and forwarded queries (loopback only).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: shoaltool serve|load|hold|flood|blackhole|pressure|dnswatch [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "flood":
		err = flood(os.Args[2:])
	case "blackhole":
		err = blackhole(os.Args[2:])
	case "pressure":
		err = pressure(os.Args[2:])
	case "dnswatch":
		err = dnswatch(os.Args[2:])
	case "hold":
		err = holdConns(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shoaltool:", err)
		os.Exit(1)
	}
}
