package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printReport writes the table, a line per phase on what failed and what
// the floods did, and then key=value lines for scripts.
func printReport(w io.Writer, cfg pressureConfig, rows []*phaseResult) {
	fmt.Fprintf(w, "UDP DNS: %d q/s of %s A; /v1/health: %d req/s, a new connection each; timeout %v.\n",
		cfg.dnsRate, cfg.name, cfg.healthRate, cfg.timeout)
	fmt.Fprintf(w, "Flood: %d held TCP DNS conns, %d idle HTTP conns, %d forwarded q/s to a dead upstream.\n",
		cfg.dnsConns, cfg.httpConns, cfg.forwardRate)
	fmt.Fprintln(w, "p50/p99 count a failure as slower than any answer (fail: the percentile is a failure); max is the slowest answer.")
	fmt.Fprintln(w, "agent cpu% is of one core; fds and rss are read at the end of the phase; held counts connections the tool")
	fmt.Fprintln(w, "has open then, including those the kernel queued in the agent's listen backlog and the agent never accepted.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tsecs\tdns p50 ms\tdns p99 ms\tdns max ms\tdns fail/sent\t"+
		"health p50 ms\thealth p99 ms\thealth max ms\thealth fail/sent\t"+
		"agent cpu%\tagent fds\tagent rss MB\theld dns\theld http\t")
	for _, r := range rows {
		held := func(n int64) string {
			if !r.flood {
				return "-"
			}
			return fmt.Sprint(n)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%d/%d\t%.0f\t%d\t%.1f\t%s\t%s\t\n",
			r.name, r.d.Seconds(),
			ms(r.dns.p50), ms(r.dns.p99), ms(r.dns.max), r.dns.failed, r.dns.sent,
			ms(r.health.p50), ms(r.health.p99), ms(r.health.max), r.health.failed, r.health.sent,
			r.agentCPU, r.fds, float64(r.rssKB)/1024, held(r.heldDNS), held(r.heldHTTP))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rows {
		printDetails(w, r)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		for _, p := range []struct {
			name string
			s    summary
		}{{"udp_dns", r.dns}, {"health", r.health}} {
			fmt.Fprintf(w, "result probe=%s phase=%s sent=%d failed=%d p50_ms=%s p99_ms=%s max_ms=%s\n",
				p.name, r.name, p.s.sent, p.s.failed, msKV(p.s.p50), msKV(p.s.p99), msKV(p.s.max))
		}
		fmt.Fprintf(w, "result probe=agent phase=%s cpu_pct=%.0f fds=%d rss_kb=%d held_dns=%d held_http=%d\n",
			r.name, r.agentCPU, r.fds, r.rssKB, r.heldDNS, r.heldHTTP)
	}
}

// printDetails says why probes failed in a phase and what its flood did.
func printDetails(w io.Writer, r *phaseResult) {
	fmt.Fprintf(w, "%s: dns failures: %s; health failures: %s; tool cpu %.0f%%\n",
		r.name, reasons(r.dns.reasons), reasons(r.health.reasons), r.toolCPU)
	if !r.flood {
		return
	}
	secs := r.d.Seconds()
	for _, h := range []struct {
		name string
		st   *holdStats
		held int64
	}{{"TCP DNS", &r.dnsHold, r.heldDNS}, {"HTTP", &r.httpHold, r.heldHTTP}} {
		fmt.Fprintf(w, "%s: %s conns opened %d (closed by the agent %d, dial errors %d), held at the end %d\n",
			r.name, h.name, h.st.opened.Load(), h.st.closed.Load(), h.st.dialErr.Load(), h.held)
	}
	fmt.Fprintf(w, "%s: forwarded queries sent %d (%.0f/s, send errors %d); replies: SERVFAIL %d, other %d\n",
		r.name, r.fwd.sent.Load(), float64(r.fwd.sent.Load())/secs, r.fwd.sendErr.Load(),
		r.fwd.servfail.Load(), r.fwd.other.Load())
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// ms prints a latency for the table; -1 is a percentile that fell on a
// failure.
func ms(d time.Duration) string {
	if d < 0 {
		return "fail"
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// msKV is ms for key=value lines: a failure is inf.
func msKV(d time.Duration) string {
	if d < 0 {
		return "inf"
	}
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}
