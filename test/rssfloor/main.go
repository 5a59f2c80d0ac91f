// Command rssfloor is the yardstick for shoal's idle-memory benchmark: a
// process that holds only the parts every shoal agent must have (a
// memberlist node, a miekg/dns server, and an HTTP listener serving a
// metrics registry, shoal's internal/metrics) and does nothing with
// them. Its VmRSS is the floor under any agent built on those libraries;
// see test/idle-rss.sh.
//
// With -join ADDR it joins the memberlist node at ADDR (and -encrypt KEY
// sets the gossip key, base64), so three of them gossip as a 3-node
// cluster does: the floor of an agent that is idle but in a cluster, with
// gossip garbage and garbage collections. It prints "ready ADDR", ADDR
// being its gossip address.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/hashicorp/memberlist"
	"github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/metrics"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rssfloor:", err)
		os.Exit(1)
	}
}

func run() error {
	join := flag.String("join", "", "join the memberlist node at ADDR:PORT")
	encrypt := flag.String("encrypt", "", "gossip key, base64")
	flag.Parse()
	mc := memberlist.DefaultLANConfig()
	mc.Name = fmt.Sprintf("floor-%d", os.Getpid())
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	mc.LogOutput = io.Discard
	if *encrypt != "" {
		key, err := base64.StdEncoding.DecodeString(*encrypt)
		if err != nil {
			return fmt.Errorf("-encrypt: %w", err)
		}
		mc.SecretKey = key
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("memberlist: %w", err)
	}
	if *join != "" {
		if _, err := ml.Join([]string{*join}); err != nil {
			return fmt.Errorf("join %s: %w", *join, err)
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dns listener: %w", err)
	}
	refuse := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		_ = w.WriteMsg(m)
	})
	go func() { log.Print((&dns.Server{PacketConn: pc, Handler: refuse}).ActivateAndServe()) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	reg := metrics.NewRegistry()
	reg.Register(metrics.NewGoCollector(), metrics.NewProcessCollector())
	fmt.Println("ready", ml.LocalNode().Address())
	return http.Serve(ln, reg.Handler(slog.Default()))
}
