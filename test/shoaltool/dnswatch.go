package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// dnswatch asks a DNS server for one name's A records every interval and
// prints a line "UNIX_NANOS ANSWERS" each time the answer changes (answers
// sorted and comma-separated, "-" for none, "error:..." for a failed
// query), so a benchmark can read, after the fact, when every agent's DNS
// stopped answering an instance. It stops on SIGTERM or after -duration.
func dnswatch(args []string) error {
	fs := flag.NewFlagSet("dnswatch", flag.ContinueOnError)
	server := fs.String("server", "127.0.0.1:8600", "DNS server host:port")
	name := fs.String("name", "web.service.shoal.", "name whose A records to watch")
	interval := fs.Duration("interval", 20*time.Millisecond, "time between queries")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "timeout of one query")
	duration := fs.Duration("duration", 30*time.Minute, "stop after this long")
	ready := fs.String("ready", "", "file to create once the first query was answered")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 || *duration <= 0 {
		return fmt.Errorf("dnswatch: -interval and -duration must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	client := &mdns.Client{Net: "udp", Timeout: *timeout}
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(*name), mdns.TypeA)
	last := ""
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		now := time.Now()
		got := answerA(ctx, client, q, *server)
		if got != last {
			fmt.Printf("%d %s\n", now.UnixNano(), got)
			last = got
			if *ready != "" && !strings.HasPrefix(got, "error:") {
				_ = os.WriteFile(*ready, nil, 0o644)
				*ready = ""
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// answerA returns the sorted A records of one query as "a,b,c", "-" for
// none, or "error:REASON".
func answerA(ctx context.Context, c *mdns.Client, q *mdns.Msg, server string) string {
	r, _, err := c.ExchangeContext(ctx, q, server)
	if err != nil {
		return "error:" + strings.ReplaceAll(err.Error(), " ", "_")
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	if len(ips) == 0 {
		return "-"
	}
	slices.Sort(ips)
	return strings.Join(ips, ",")
}
