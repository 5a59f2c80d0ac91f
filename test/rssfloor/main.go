// Command rssfloor is the yardstick for shoal's idle-memory benchmark: a
// process that holds only the parts the design requires of every shoal
// agent, each used once so that the linker keeps it: a memberlist node, a
// miekg/dns server, an HTTP listener (the API), a text/template with
// sprig's functions (rendering), an fsnotify watcher (template files) and
// the HCL parser (config files). It does nothing else. Its VmRSS is the
// floor under any agent built on those libraries; see test/idle-rss.sh.
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
	"net"
	"net/http"
	"os"

	"github.com/hashicorp/memberlist"
	"github.com/miekg/dns"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/hcl/v2/hclparse"
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
	page, err := renderOnce()
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("fsnotify: %w", err)
	}
	defer w.Close()
	if err := w.Add(os.TempDir()); err != nil {
		return fmt.Errorf("fsnotify: %w", err)
	}
	fmt.Println("ready", ml.LocalNode().Address())
	return http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(rw, page)
	}))
}

// renderOnce parses a one-line HCL config and renders a sprig template
// with its value, as an agent does once at start.
func renderOnce() (string, error) {
	f, diags := hclparse.NewParser().ParseHCL([]byte("node_name = \"floor\"\n"), "floor.hcl")
	if diags.HasErrors() {
		return "", fmt.Errorf("hcl: %w", diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return "", fmt.Errorf("hcl: %w", diags)
	}
	name, diags := attrs["node_name"].Expr.Value(nil)
	if diags.HasErrors() {
		return "", fmt.Errorf("hcl: %w", diags)
	}
	t, err := template.New("floor").Funcs(sprig.TxtFuncMap()).Parse(`{{ . | upper }}`)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, name.AsString()); err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return b.String(), nil
}
