//go:build linux

package test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// long reports whether the long variants were asked for (SHOAL_TEST_LONG=1):
// 60 s of packet loss and a longer flood. CI runs the short ones, which
// assert the same things over a shorter window.
func long() bool { return os.Getenv("SHOAL_TEST_LONG") == "1" }

// Scenario 1: five hosts join; DNS on the lb answers with all five; haproxy
// routes to all five.
func TestScenario_FiveHostsJoin(t *testing.T) {
	needShoal(t)
	c := NewCluster(t, bins, Options{Web: 5, LBs: 1})
	t.Logf("converged in %s", c.WaitConverged(60*time.Second))

	var want []string
	for _, a := range c.Web {
		want = append(want, a.IP)
	}
	WaitFor(t, 20*time.Second, func() error {
		got, err := c.LB.Dig("web.service.shoal", "A")
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(sorted(want), ",") {
			return fmt.Errorf("dig web.service.shoal got %v, want %v", got, sorted(want))
		}
		return nil
	})
	c.LB.WaitServers(30*time.Second, c.WebNames())
	WaitFor(t, 30*time.Second, func() error {
		r, err := c.LB.Load(bins.Tool, LBURL, "-n", "100", "-c", "4")
		if err != nil {
			return err
		}
		if len(r.Backends) != 5 || r.Failed > 0 {
			return fmt.Errorf("haproxy answered from %v with %d failures, want all 5 hosts and none failed", r.Backends, r.Failed)
		}
		return nil
	})
}

// Scenario 2: SIGKILL one agent: every node marks it failed, the lb's
// config loses it, and haproxy stops routing to it through its Runtime API,
// without a reload; no request fails afterwards. The victim's backend keeps
// running, so only haproxy's own state keeps requests off it.
func TestScenario_KilledAgentLeavesPool(t *testing.T) {
	needShoal(t)
	c := NewCluster(t, bins, Options{Web: 5, LBs: 1})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	reloads, err := c.LB.Reloads()
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.LB.Template()
	if err != nil {
		t.Fatal(err)
	}

	victim := c.Web[4]
	killed := time.Now()
	if err := victim.Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d := c.WaitStatus(c.Except(victim.Name), []string{victim.Name}, "failed", 60*time.Second)
	t.Logf("every node marked %s failed %s after SIGKILL", victim.Name, d)
	WaitFor(t, 30*time.Second, func() error {
		st, err := c.LB.Template()
		if err == nil && st.Applied <= before.Applied {
			err = fmt.Errorf("%s's render status: applied %d, installs %d, reloads %d; want more than %d applied", c.LB.Name, st.Applied, st.Installs, st.Reloads, before.Applied)
		}
		if err == nil {
			err = c.LB.CheckServing(c.WebNames(victim.Name))
		}
		return err
	})
	t.Logf("haproxy stopped routing to %s %s after SIGKILL", victim.Name, time.Since(killed))
	if n, err := c.LB.Reloads(); err != nil || n != reloads {
		t.Errorf("haproxy reloads: got %d (%v), want %d: the change should go through the Runtime API", n, err, reloads)
	}

	r, err := c.LB.Load(bins.Tool, LBURL, "-n", "200", "-c", "4")
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed > 0 || r.Backends[victim.Name] > 0 || len(r.Backends) != 4 {
		t.Fatalf("after the change got %d failed, answers %v; want 0 failed, the 4 live hosts only: %v", r.Failed, r.Backends, r.Errors)
	}
}

// Scenario 3: cut one host's link: it is marked failed and leaves the lb's
// config; heal: it comes back alive by itself (reconnect) and the config
// regains it.
func TestScenario_PartitionHeals(t *testing.T) {
	needShoal(t)
	c := NewCluster(t, bins, Options{Web: 4, LBs: 1})
	c.WaitConverged(60 * time.Second)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	victim := c.Web[2]
	if err := victim.SetLink(false); err != nil {
		t.Fatal(err)
	}
	d := c.WaitStatus(c.Except(victim.Name), []string{victim.Name}, "failed", 60*time.Second)
	t.Logf("partitioned %s marked failed everywhere in %s", victim.Name, d)
	c.LB.WaitServers(30*time.Second, c.WebNames(victim.Name))

	if err := victim.SetLink(true); err != nil {
		t.Fatal(err)
	}
	d = c.WaitConverged(90 * time.Second)
	t.Logf("healed: all alive again in %s", d)
	c.LB.WaitServers(30*time.Second, c.WebNames())
	// haproxy serves the healed host again, and nobody else failed.
	WaitFor(t, 30*time.Second, func() error {
		r, err := c.LB.Load(bins.Tool, LBURL, "-n", "80", "-c", "4")
		if err != nil {
			return err
		}
		if len(r.Backends) != len(c.Web) || r.Failed > 0 {
			return fmt.Errorf("haproxy answered from %v with %d failures, want all %d hosts and none failed", r.Backends, r.Failed, len(c.Web))
		}
		return nil
	})
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
