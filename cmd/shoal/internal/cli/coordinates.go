package cli

import (
	"fmt"
	"net/url"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/node"
)

// rttResult is `shoal rtt -format json`.
type rttResult struct {
	A         string  `json:"a"`
	B         string  `json:"b"`
	RTTMillis float64 `json:"rtt_ms"`
}

// runRTT estimates the round trip between two members from the network
// coordinates the agent holds, as `serf rtt` does; the second member
// defaults to the agent itself.
func runRTT(e env, args []string) int {
	fs := newFlags(e, "rtt", "[-format text|json] NODE [NODE2]")
	c := fs.client()
	format := fs.formatFlag("output `format`: text or json")
	if code, ok := fs.parseArgs(args, 1, 2, "name one or two nodes"); !ok {
		return code
	}
	a, err := fetchCoordinate(c, fs.Arg(0))
	if err != nil {
		return fail(e, "rtt", err)
	}
	b, err := fetchCoordinate(c, fs.Arg(1)) // "": the agent's own
	if err != nil {
		return fail(e, "rtt", err)
	}
	rtt, err := node.EstimateRTT(a.Coord, b.Coord)
	if err != nil {
		return fail(e, "rtt", fmt.Errorf("%s <-> %s: %w", a.Node, b.Node, err))
	}
	res := rttResult{A: a.Node, B: b.Node, RTTMillis: rtt.Seconds() * 1e3}
	return printAs(e, *format, res, func() {
		fmt.Fprintf(e.stdout, "Estimated %s <-> %s rtt: %.3f ms\n", safe(res.A), safe(res.B), res.RTTMillis)
	})
}

func fetchCoordinate(c *client, name string) (*api.CoordinateResponse, error) {
	path := "/v1/coordinate"
	if name != "" {
		path += "?" + url.Values{"node": {name}}.Encode()
	}
	var out api.CoordinateResponse
	if err := c.call("GET", path, nil, &out); err != nil {
		return nil, err
	}
	if out.Coord == nil {
		return nil, fmt.Errorf("the agent sent no coordinate for %q", name)
	}
	return &out, nil
}

// runReachability pings every member by query and lists the live members
// that did not ack, as `serf reachability` does. It exits 1 when any is
// missing or an ack came from a member that is not alive.
func runReachability(e env, args []string) int {
	fs := newFlags(e, "reachability", "[-verbose] [-timeout D] [-format text|json]")
	c := fs.client()
	verbose := fs.Bool("verbose", false, "list every ack and the timings")
	timeout := fs.durationFlag("timeout", "how long to wait for acks (`D`; 0: the cluster-size based default)")
	format := fs.formatFlag("output `format`: text or json")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	path := "/v1/reachability"
	if *timeout > 0 {
		path += "?timeout=" + url.QueryEscape(timeout.String())
	}
	var res api.ReachabilityResponse
	if err := c.call("GET", path, nil, &res); err != nil {
		return fail(e, "reachability", err)
	}
	if *format == "json" {
		if code := printJSON(e, res); code != exitOK {
			return code
		}
	} else {
		printReachability(e, res, *verbose)
	}
	if len(res.Missing) > 0 || len(res.Unexpected) > 0 {
		return exitFail
	}
	return exitOK
}

func printReachability(e env, res api.ReachabilityResponse, verbose bool) {
	w := e.stdout
	fmt.Fprintf(w, "Total members: %d, live members: %d\n", res.Members, len(res.Live))
	fmt.Fprintln(w, "Starting reachability test...")
	if verbose {
		for _, name := range res.Acked {
			fmt.Fprintf(w, "\tAck from '%s'\n", safe(name))
		}
		fmt.Fprintf(w, "Query time: %0.2f sec, time to last response: %0.2f sec\n",
			res.QuerySeconds, res.LastAckSeconds)
	}
	if len(res.Unexpected) > 0 {
		fmt.Fprintln(w, "Received more acks than live nodes! Acks from non-live nodes:")
		for _, name := range res.Unexpected {
			fmt.Fprintf(w, "\t%s\n", safe(name))
		}
		fmt.Fprintln(w, "Members this agent believes failed or gone still answer: failure detection may be misjudging them (timeouts too short, or a one-way network problem).")
	}
	if len(res.Missing) > 0 {
		fmt.Fprintln(w, "Received less acks than live nodes! Missing acks from:")
		for _, name := range res.Missing {
			fmt.Fprintf(w, "\t%s\n", safe(name))
		}
		fmt.Fprintln(w, "Gossip or its replies are being lost on the way to or from these members.")
	}
	if len(res.Missing) > 0 || len(res.Unexpected) > 0 {
		fmt.Fprintln(w, `
What to check:
* every member reaches every other's gossip address and port, over UDP and TCP
* an advertised address routes to the address the agent binds
* no member sits behind NAT
* firewalls let the gossip port through both ways`)
		return
	}
	fmt.Fprintln(w, "Successfully contacted all live nodes")
}
