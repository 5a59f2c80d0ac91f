package node

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Benchmarks run real nodes on 127.0.0.1. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./node
//
// Each reports its own measure (seconds to converge, to detect a failure,
// to deliver an event, heap bytes per node) next to the usual ns/op.

func lanConfig(name string) Config {
	cfg := testConfig(name)
	cfg.Profile = "lan"
	cfg.Memberlist = memberlist.DefaultLANConfig()
	cfg.EventOrderWindow = DefaultConfig().EventOrderWindow
	return cfg
}

func startQuiet(b *testing.B, cfgs []Config) []*Node {
	b.Helper()
	nodes := make([]*Node, len(cfgs))
	for i, cfg := range cfgs {
		n, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(); err != nil {
			b.Fatal(err)
		}
		nodes[i] = n
	}
	b.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	return nodes
}

func addrOf(n *Node) string {
	ip, port := n.LocalAddr()
	return fmt.Sprintf("%s:%d", ip, port)
}

// waitAll polls until cond holds for every node, returning the elapsed time.
func waitAll(b *testing.B, nodes []*Node, timeout time.Duration, cond func(*Node) bool) time.Duration {
	start := time.Now()
	for {
		ok := true
		for _, n := range nodes {
			if !cond(n) {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			var seen []string
			for _, n := range nodes {
				st := n.Stats()
				seen = append(seen, fmt.Sprintf("%s: %d alive, %d failed, %d members", n.Name(), st.Alive, st.Failed, st.Members))
			}
			b.Fatalf("condition not met within %s; nodes see %v", timeout, seen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkConvergence(b *testing.B) {
	for _, size := range []int{10, 50, 100} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var total time.Duration
			for i := range b.N {
				cfgs := make([]Config, size)
				for j := range cfgs {
					cfgs[j] = lanConfig(fmt.Sprintf("conv%d-%d", i, j))
				}
				nodes := startQuiet(b, cfgs)
				b.ResetTimer()
				start := time.Now()
				for _, n := range nodes[1:] {
					if _, err := n.Join([]string{addrOf(nodes[0])}, false); err != nil {
						b.Fatal(err)
					}
				}
				waitAll(b, nodes, 60*time.Second, func(n *Node) bool { return n.Stats().Alive == size })
				total += time.Since(start)
				b.StopTimer()
				for _, n := range nodes {
					n.Shutdown()
				}
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/converge")
		})
	}
}

func BenchmarkFailureDetection10(b *testing.B) {
	var total time.Duration
	for i := range b.N {
		cfgs := make([]Config, 10)
		for j := range cfgs {
			cfgs[j] = lanConfig(fmt.Sprintf("fd%d-%d", i, j))
		}
		nodes := startQuiet(b, cfgs)
		for _, n := range nodes[1:] {
			n.Join([]string{addrOf(nodes[0])}, false)
		}
		waitAll(b, nodes, 60*time.Second, func(n *Node) bool { return n.Stats().Alive == 10 })
		victim := nodes[9].Name()
		nodes[9].Shutdown()
		total += waitAll(b, nodes[:9], 60*time.Second, func(n *Node) bool {
			m, _ := n.Snapshot().Get(victim)
			return m.Status == StatusFailed
		})
		for _, n := range nodes {
			n.Shutdown()
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/all-see-failed")
}

func BenchmarkUserEvent50(b *testing.B) {
	cfgs := make([]Config, 50)
	for j := range cfgs {
		cfgs[j] = lanConfig(fmt.Sprintf("ue-%d", j))
	}
	nodes := startQuiet(b, cfgs)
	streams := make([]<-chan Event, len(nodes))
	for i, n := range nodes {
		streams[i], _ = n.Subscribe(1024)
	}
	for _, n := range nodes[1:] {
		n.Join([]string{addrOf(nodes[0])}, false)
	}
	// A member that gossip missed at join is learnt at the next push-pull,
	// which memberlist spaces 60 s apart at 50 members: wait out two.
	waitAll(b, nodes, 3*time.Minute, func(n *Node) bool { return n.Stats().Alive == 50 })
	b.ResetTimer()
	// The mean hides the shape: an event that gossip fails to bring to
	// some member (its retransmit budget is spent) waits for push-pull.
	var total, slowest time.Duration
	for i := range b.N {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if err := nodes[i%50].UserEvent(name, []byte("payload"), false); err != nil {
			b.Fatal(err)
		}
		for _, s := range streams {
			for ev := range s {
				if ue, ok := ev.(*UserEvent); ok && ue.Name == name {
					break
				}
			}
		}
		took := time.Since(start)
		total += took
		slowest = max(slowest, took)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/all-delivered")
	b.ReportMetric(slowest.Seconds(), "s/slowest-all-delivered")
}

func BenchmarkHeapPerNode(b *testing.B) {
	const size = 50
	var perNode float64
	for i := range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cfgs := make([]Config, size)
		for j := range cfgs {
			cfgs[j] = lanConfig(fmt.Sprintf("heap%d-%d", i, j))
		}
		nodes := startQuiet(b, cfgs)
		for _, n := range nodes[1:] {
			n.Join([]string{addrOf(nodes[0])}, false)
		}
		waitAll(b, nodes, 60*time.Second, func(n *Node) bool { return n.Stats().Alive == size })
		runtime.GC()
		runtime.ReadMemStats(&after)
		perNode = float64(after.HeapInuse-before.HeapInuse) / size
		for _, n := range nodes {
			n.Shutdown()
		}
	}
	b.ReportMetric(perNode, "heap-bytes/node")
}

// BenchmarkUserEventOwnSubscriber measures how long a node takes to hand
// its own user event to its own subscriber: the path behind "user event →
// the sender's own handler".
func BenchmarkUserEventOwnSubscriber(b *testing.B) {
	nodes := startQuiet(b, []Config{lanConfig("ue-own")})
	stream, _ := nodes[0].Subscribe(1024)
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		name := fmt.Sprintf("own-%d", i)
		start := time.Now()
		if err := nodes[0].UserEvent(name, []byte("payload"), false); err != nil {
			b.Fatal(err)
		}
		for ev := range stream {
			if ue, ok := ev.(*UserEvent); ok && ue.Name == name {
				break
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/own-delivered")
}

// BenchmarkHealthPropagation measures how long a health change made on one
// of 10 nodes (LAN timings) takes to reach every other node's Snapshot:
// "small" fits one gossip packet and is broadcast whole, "64x4" (64
// instances, 4 tags each) goes as a notice and a TCP fetch. Changes are
// spaced past CatalogInterval, so each is the first after a quiet spell.
func BenchmarkHealthPropagation(b *testing.B) {
	for _, c := range []struct {
		name  string
		count int
	}{{"small", 2}, {"64x4", 64}} {
		b.Run(c.name, func(b *testing.B) {
			cfgs := make([]Config, 10)
			for j := range cfgs {
				cfgs[j] = lanConfig(fmt.Sprintf("hp-%s-%d", c.name, j))
			}
			nodes := startQuiet(b, cfgs)
			for _, n := range nodes[1:] {
				if _, err := n.Join([]string{addrOf(nodes[0])}, false); err != nil {
					b.Fatal(err)
				}
			}
			waitAll(b, nodes, 60*time.Second, func(n *Node) bool { return n.Stats().Alive == 10 })
			owner := nodes[0]
			svcs := manyInstances(c.count, 10000)
			seen := func(h Health) func(*Node) bool {
				return func(n *Node) bool {
					m, _ := n.Snapshot().Get(owner.Name())
					return len(m.Services) == c.count && m.Services[0].Health == h
				}
			}
			if err := owner.SetCatalog(svcs, nil); err != nil {
				b.Fatal(err)
			}
			waitAll(b, nodes, 60*time.Second, seen(HealthPassing))
			var total, worst time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				time.Sleep(owner.cfg.CatalogInterval + 50*time.Millisecond) // pacing: a quiet spell before each change
				h := HealthCritical
				if i%2 == 1 {
					h = HealthPassing
				}
				svcs[0].Checks = []CheckState{{ID: "http", Status: h}}
				b.StartTimer()
				if err := owner.SetCatalog(svcs, nil); err != nil {
					b.Fatal(err)
				}
				d := waitAll(b, nodes[1:], 60*time.Second, seen(h))
				total += d
				worst = max(worst, d)
			}
			b.StopTimer()
			var fetches uint64
			for _, n := range nodes[1:] {
				fetches += n.Stats().CatalogFetches
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/propagate")
			b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
			b.ReportMetric(float64(owner.Stats().CatalogBroadcasts)/float64(b.N), "broadcasts/op")
			b.ReportMetric(float64(fetches)/float64(b.N), "fetches/op")
		})
	}
}
