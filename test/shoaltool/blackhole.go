package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// blackhole holds a UDP socket on a loopback address and never answers:
// the dead upstream a flood of forwarded queries runs into. It prints
// "addr HOST:PORT" once bound, reads and counts datagrams until SIGTERM or
// SIGINT, then prints how many it got.
func blackhole(args []string) error {
	fs := flag.NewFlagSet("blackhole", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to hold (port 0: any free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := loopbackAddr("addr", *addr, true)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return fmt.Errorf("blackhole: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	context.AfterFunc(ctx, func() { conn.Close() })
	fmt.Printf("addr %s\n", conn.LocalAddr())
	var got int
	buf := make([]byte, 1500)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
		got++
	}
	fmt.Printf("blackhole received %d datagrams, answered none\n", got)
	return nil
}
