package node

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testutil"
)

// plane places simulated nodes on a plane; a pair's round trip is three
// times their distance plus a 2 ms floor, in milliseconds (6 to 73 ms), a
// network that Vivaldi's coordinates with height can model. Round trips
// of tens of milliseconds keep the scheduling noise of a loaded machine
// small beside them.
var plane = [][2]float64{{0, 0}, {10, 0}, {0, 20}, {15, 15}}

func planeRTT(a, b int) time.Duration {
	d := math.Hypot(plane[a][0]-plane[b][0], plane[a][1]-plane[b][1])
	return time.Duration(3 * (2 + d) * float64(time.Millisecond))
}

// The agreement asked of the estimates: every pair within a factor of
// two of its true round trip, and the mean relative error at most 20%.
// Vivaldi fits all pairs at once and keeps moving with each noisy sample,
// so a single pair can stray for a while; the mean shows the fit.
const maxMeanRelErr = 0.20

func rttWithin(est, want time.Duration) bool { return est >= want/2 && est <= 2*want }

func latencyCluster(t *testing.T, prefix string, ln *latencyNet, count int) []*testNode {
	t.Helper()
	i := 0
	return startCluster(t, prefix, count, func(c *Config) {
		mc := *c.Memberlist
		// Frequent probes feed the model quickly; the timeout leaves room
		// for the simulated delay under -race.
		mc.ProbeInterval = 50 * time.Millisecond
		mc.ProbeTimeout = 250 * time.Millisecond
		mc.Transport = ln.transport(t, i)
		c.Memberlist = &mc
		i++
	})
}

func TestCoordinates_AgreeWithSimulatedLatency(t *testing.T) {
	ln := newLatencyNet(planeRTT)
	nodes := latencyCluster(t, "viv", ln, len(plane))
	observer := nodes[0]
	estimate := func(a, b int) (time.Duration, error) {
		ca, ok := observer.CachedCoordinate(nodes[a].Name())
		if !ok {
			return 0, fmt.Errorf("%s has no coordinate for %s", observer.Name(), nodes[a].Name())
		}
		cb, ok := observer.CachedCoordinate(nodes[b].Name())
		if !ok {
			return 0, fmt.Errorf("%s has no coordinate for %s", observer.Name(), nodes[b].Name())
		}
		return EstimateRTT(ca, cb)
	}
	var report []string
	var meanErr float64
	// The fit must hold for several polls in a row, not once by chance
	// while the coordinates still swing towards it.
	const streakWanted = 5
	streak := 0
	testutil.WaitFor(t, 90*time.Second, func() error {
		streak++
		report = report[:0]
		var bad []string
		sumErr := 0.0
		for a := range nodes {
			for b := a + 1; b < len(nodes); b++ {
				est, err := estimate(a, b)
				if err != nil {
					return err
				}
				want := planeRTT(a, b)
				line := fmt.Sprintf("%s<->%s est %.2f ms want %.2f ms", nodes[a].Name(), nodes[b].Name(),
					est.Seconds()*1e3, want.Seconds()*1e3)
				report = append(report, line)
				sumErr += (est - want).Abs().Seconds() / want.Seconds()
				if !rttWithin(est, want) {
					bad = append(bad, line)
				}
			}
		}
		meanErr = sumErr / float64(len(report))
		if len(bad) > 0 {
			streak = 0
			return fmt.Errorf("estimates off by more than 2x: %s", strings.Join(bad, "; "))
		}
		if meanErr > maxMeanRelErr {
			streak = 0
			return fmt.Errorf("mean relative error %.0f%%, want <= %.0f%%: %s", meanErr*100, maxMeanRelErr*100, strings.Join(report, "; "))
		}
		if streak < streakWanted {
			return fmt.Errorf("agreement held for %d polls in a row, want %d", streak, streakWanted)
		}
		return nil
	})
	for _, line := range report {
		t.Log(line)
	}
	t.Logf("mean relative error %.1f%%", meanErr*100)
	if s := observer.Stats(); s.RejectedCoordinates != 0 {
		t.Errorf("got %d rejected coordinates between honest nodes, want 0", s.RejectedCoordinates)
	}
}

func TestCoordinates_RemoteValuesChecked(t *testing.T) {
	c, err := newCoordinates("self")
	if err != nil {
		t.Fatal(err)
	}
	good := func() *Coordinate {
		co := c.client.GetCoordinate()
		co.Vec[0], co.Height, co.Error = 0.004, 0.001, 0.5
		return co
	}
	if err := c.observe("peer", encodeCoordinate(good()), 5*time.Millisecond); err != nil {
		t.Fatalf("honest coordinate refused: %v", err)
	}
	tests := map[string]func(*Coordinate){
		"NaN component":     func(co *Coordinate) { co.Vec[3] = math.NaN() },
		"infinite height":   func(co *Coordinate) { co.Height = math.Inf(1) },
		"huge component":    func(co *Coordinate) { co.Vec[0] = 1e6 },
		"negative height":   func(co *Coordinate) { co.Height = -1 },
		"huge adjustment":   func(co *Coordinate) { co.Adjustment = -50 },
		"error over max":    func(co *Coordinate) { co.Error = 7 },
		"too few dimension": func(co *Coordinate) { co.Vec = co.Vec[:2] },
		"too many":          func(co *Coordinate) { co.Vec = append(co.Vec, 0) },
	}
	for name, spoil := range tests {
		co := good()
		spoil(co)
		if err := c.observe("evil", encodeCoordinate(co), 5*time.Millisecond); err == nil {
			t.Errorf("%s: accepted, want refused", name)
		}
	}
	for name, payload := range map[string][]byte{
		"truncated":      encodeCoordinate(good())[:20],
		"trailing bytes": append(encodeCoordinate(good()), 0),
		"other version":  append([]byte{9}, encodeCoordinate(good())[1:]...),
		"huge count":     {pingVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if err := c.observe("evil", payload, 5*time.Millisecond); err == nil {
			t.Errorf("%s: accepted, want refused", name)
		}
	}
	if got, want := c.rejected.Load(), uint64(len(tests)+4); got != want {
		t.Errorf("got %d rejections counted, want %d", got, want)
	}
	if _, ok := c.cached("evil"); ok {
		t.Error("a refused coordinate was cached")
	}
	if own, _ := c.cached("self"); !own.IsValid() {
		t.Errorf("own coordinate %+v is invalid after bad input", own)
	}
	if _, err := EstimateRTT(good(), &Coordinate{Vec: []float64{1}}); err == nil {
		t.Error("EstimateRTT compared coordinates of different dimensions")
	}
}

func TestCoordinates_DisabledAndReaped(t *testing.T) {
	nodes := startCluster(t, "cdis", 3, func(c *Config) {
		c.TombstoneTimeout = 200 * time.Millisecond
		c.DisableCoordinates = c.Name == "cdis2"
	})
	if _, err := nodes[2].Coordinate(); err == nil {
		t.Error("a node with coordinates disabled returned one")
	}
	// cdis0 learns cdis1's coordinate; cdis2's acks carry none.
	testutil.WaitFor(t, 30*time.Second, func() error {
		if _, ok := nodes[0].CachedCoordinate("cdis1"); !ok {
			return fmt.Errorf("cdis0 has no coordinate for cdis1 yet")
		}
		return nil
	})
	if _, ok := nodes[0].CachedCoordinate("cdis2"); ok {
		t.Error("cdis0 cached a coordinate for cdis2, which has coordinates disabled")
	}
	if err := nodes[1].Leave(); err != nil {
		t.Fatal(err)
	}
	nodes[1].Shutdown()
	testutil.WaitFor(t, 30*time.Second, func() error {
		if _, ok := nodes[0].Snapshot().Get("cdis1"); ok {
			return fmt.Errorf("cdis1 not reaped yet")
		}
		if _, ok := nodes[0].CachedCoordinate("cdis1"); ok {
			return fmt.Errorf("cdis1 reaped but its coordinate is still cached")
		}
		return nil
	})
}
