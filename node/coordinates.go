package node

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"
)

// Network coordinates, as Serf keeps them: every direct probe memberlist
// completes carries the peer's Vivaldi coordinate in its ack, and the
// measured round trip moves our own coordinate. The distance between two
// coordinates then estimates the round trip between any two members,
// including pairs that never probed each other (`shoal rtt`, DNS near
// sorting).

// Coordinate is a member's position in Serf's Vivaldi model; DistanceTo
// between two of them estimates their round trip time. Use EstimateRTT,
// which checks that the two can be compared, rather than DistanceTo,
// which panics when they cannot.
type Coordinate = coordinate.Coordinate

// pingVersion heads every ack payload, so the encoding can change later.
const pingVersion = 1

// maxCoordinateSeconds bounds every distance-like field of a coordinate
// received from the network: Serf's Vivaldi client refuses round trips
// over 10 s, so no honest coordinate strays that far from the origin.
const maxCoordinateSeconds = 10.0

// coordinates holds the Vivaldi client and the last coordinate seen from
// each member.
type coordinates struct {
	self   string
	config *coordinate.Config
	client *coordinate.Client

	mu    sync.RWMutex
	cache map[string]*Coordinate

	rejected atomic.Uint64 // remote coordinates refused as invalid
}

// newCoordinates starts a Vivaldi client with Serf's defaults.
func newCoordinates(self string) (*coordinates, error) {
	cfg := coordinate.DefaultConfig()
	client, err := coordinate.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("network coordinates: %w", err)
	}
	return &coordinates{self: self, config: cfg, client: client, cache: map[string]*Coordinate{}}, nil
}

// encodeCoordinate writes c after the version byte.
func encodeCoordinate(c *Coordinate) []byte {
	e := encoder{buf: make([]byte, 0, 1+1+8*(len(c.Vec)+3))}
	e.u8(pingVersion)
	e.uvarint(uint64(len(c.Vec)))
	for _, v := range c.Vec {
		e.float(v)
	}
	e.float(c.Error)
	e.float(c.Adjustment)
	e.float(c.Height)
	return e.buf
}

// decodeCoordinate reads an ack payload and checks it: it comes from the
// network, and a NaN, an infinity, a huge value or a vector of the wrong
// length would poison our own coordinate or make DistanceTo panic.
func (c *coordinates) decodeCoordinate(buf []byte) (*Coordinate, error) {
	if len(buf) == 0 || buf[0] != pingVersion {
		return nil, errors.New("unknown ping payload version")
	}
	d := decoder{buf: buf[1:]}
	dims := d.count(8)
	if d.err == nil && dims != int(c.config.Dimensionality) {
		return nil, fmt.Errorf("coordinate has %d dimensions, want %d", dims, c.config.Dimensionality)
	}
	out := &Coordinate{Vec: make([]float64, dims)}
	for i := range out.Vec {
		out.Vec[i] = d.float()
	}
	out.Error, out.Adjustment, out.Height = d.float(), d.float(), d.float()
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, c.check(out)
}

// check reports why a coordinate cannot be used, or nil.
func (c *coordinates) check(co *Coordinate) error {
	if len(co.Vec) != int(c.config.Dimensionality) {
		return fmt.Errorf("coordinate has %d dimensions, want %d", len(co.Vec), c.config.Dimensionality)
	}
	if !co.IsValid() {
		return errors.New("coordinate holds NaN or infinity")
	}
	for i, v := range co.Vec {
		if math.Abs(v) > maxCoordinateSeconds {
			return fmt.Errorf("coordinate component %d is %g s, over %g s", i, v, maxCoordinateSeconds)
		}
	}
	switch {
	case co.Error < 0 || co.Error > c.config.VivaldiErrorMax:
		return fmt.Errorf("coordinate error %g is outside 0..%g", co.Error, c.config.VivaldiErrorMax)
	case math.Abs(co.Adjustment) > maxCoordinateSeconds:
		return fmt.Errorf("coordinate adjustment %g s is over %g s", co.Adjustment, maxCoordinateSeconds)
	case co.Height < 0 || co.Height > maxCoordinateSeconds:
		return fmt.Errorf("coordinate height %g s is outside 0..%g s", co.Height, maxCoordinateSeconds)
	}
	return nil
}

// observe feeds one completed probe into the model and caches the peer's
// coordinate.
func (c *coordinates) observe(peer string, payload []byte, rtt time.Duration) error {
	other, err := c.decodeCoordinate(payload)
	if err == nil {
		_, err = c.client.Update(peer, other, rtt)
	}
	if err != nil {
		c.rejected.Add(1)
		return err
	}
	c.mu.Lock()
	c.cache[peer] = other
	c.mu.Unlock()
	return nil
}

// forget drops a member that was reaped.
func (c *coordinates) forget(name string) {
	c.client.ForgetNode(name)
	c.mu.Lock()
	delete(c.cache, name)
	c.mu.Unlock()
}

func (c *coordinates) cached(name string) (*Coordinate, bool) {
	if name == c.self {
		return c.client.GetCoordinate(), true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	co, ok := c.cache[name]
	if !ok {
		return nil, false
	}
	return co.Clone(), true
}

// pingDelegate carries coordinates on memberlist's probe acks, and tells
// suspicion.go of every answered probe.
type pingDelegate struct{ n *Node }

var _ memberlist.PingDelegate = (*pingDelegate)(nil)

// AckPayload is our coordinate, sent back to whoever probed us.
func (p *pingDelegate) AckPayload() []byte {
	if p.n.coords == nil {
		return nil
	}
	return encodeCoordinate(p.n.coords.client.GetCoordinate())
}

// NotifyPingComplete learns from a direct probe's round trip. It only
// takes locks of its own, so it never blocks memberlist for long.
func (p *pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	// Evidence that other is alive now, which clears a suspicion that
	// began before the probe was sent (suspicion.go).
	p.n.handlePingAck(other.Name, time.Now().Add(-rtt))
	if p.n.coords == nil || len(payload) == 0 {
		return // coordinates off here, or at the peer
	}
	if _, known := p.n.Snapshot().Get(other.Name); !known {
		return // not in the view (rejected, or reaped): remember nothing about it
	}
	if err := p.n.coords.observe(other.Name, payload, rtt); err != nil {
		p.n.logger.Debug("rejected network coordinate", "member", clip(other.Name), "rtt", rtt, "err", err)
	}
}

// ErrCoordinatesDisabled is returned when Config.DisableCoordinates is set.
var ErrCoordinatesDisabled = errors.New("network coordinates are disabled on this node")

// Coordinate returns this node's current network coordinate.
func (n *Node) Coordinate() (*Coordinate, error) {
	if n.coords == nil {
		return nil, ErrCoordinatesDisabled
	}
	return n.coords.client.GetCoordinate(), nil
}

// CachedCoordinate returns the last coordinate seen from the named
// member; for this node's own name, its current one. It reports false
// when none is known, or coordinates are disabled.
func (n *Node) CachedCoordinate(name string) (*Coordinate, bool) {
	if n.coords == nil {
		return nil, false
	}
	return n.coords.cached(name)
}

// forgetCoordinate drops what the model knows of a reaped member.
func (n *Node) forgetCoordinate(ev Event) {
	me, ok := ev.(*MemberEvent)
	if !ok || n.coords == nil || me.Type != EventMemberReap {
		return
	}
	for _, m := range me.Members {
		n.coords.forget(m.Name)
	}
}

// EstimateRTT estimates the round trip time between the members at a and
// b. It fails, instead of panicking, when either is nil, invalid, or of
// another dimensionality than the other.
func EstimateRTT(a, b *Coordinate) (time.Duration, error) {
	switch {
	case a == nil || b == nil:
		return 0, errors.New("estimate rtt: missing coordinate")
	case !a.IsValid() || !b.IsValid():
		return 0, errors.New("estimate rtt: invalid coordinate")
	case !a.IsCompatibleWith(b) || len(a.Vec) == 0:
		return 0, fmt.Errorf("estimate rtt: coordinates of %d and %d dimensions", len(a.Vec), len(b.Vec))
	}
	return a.DistanceTo(b), nil
}
