package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// A small length-prefixed binary codec for shoal's own gossip messages.
// It is hand-written rather than msgpack so that node depends on memberlist
// alone, and so every length read from the wire is checked before use.

var errShortMessage = errors.New("message truncated")

type encoder struct{ buf []byte }

func (e *encoder) u8(v uint8)       { e.buf = append(e.buf, v) }
func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) boolean(b bool) {
	if b {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// decoder reads what encoder wrote. The first error sticks; later reads
// return zero values, so a message is decoded straight through and checked
// once at the end.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) u8() uint8 {
	if d.err != nil || len(d.buf) < 1 {
		d.fail(errShortMessage)
		return 0
	}
	v := d.buf[0]
	d.buf = d.buf[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail(fmt.Errorf("bad varint: %w", errShortMessage))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail(fmt.Errorf("field of %d bytes with %d left: %w", n, len(d.buf), errShortMessage))
		return nil
	}
	b := make([]byte, n)
	copy(b, d.buf[:n])
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) boolean() bool { return d.u8() != 0 }

// count reads a collection length and refuses one that could not fit in
// the rest of the message (each element takes at least min bytes), so a
// hostile length cannot make us allocate.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.buf)/min) {
		d.fail(fmt.Errorf("count %d too large for %d bytes: %w", n, len(d.buf), errShortMessage))
		return 0
	}
	return int(n)
}

// strs writes a list of strings; decoder.strs reads it.
func (e *encoder) strs(list []string) {
	e.uvarint(uint64(len(list)))
	for _, s := range list {
		e.str(s)
	}
}

func (d *decoder) strs() []string {
	var list []string
	for n := d.count(1); n > 0 && d.err == nil; n-- {
		list = append(list, d.str())
	}
	return list
}

// strMap writes a map of strings in key order, so equal maps encode to
// equal bytes; decoder.strMap reads it (nil when empty).
func (e *encoder) strMap(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.str(k)
		e.str(m[k])
	}
}

func (d *decoder) strMap() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for ; n > 0 && d.err == nil; n-- {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

// done reports a decode error, including trailing garbage.
func (d *decoder) done() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.buf)))
	}
	return d.err
}

// float64s travel as their IEEE 754 bits, little-endian. The decoder
// returns whatever the bits say, NaN and Inf included: callers that use
// floats from the network check them (coordinates.go).
func (e *encoder) float(v float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v))
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.buf) < 8 {
		d.fail(errShortMessage)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
	d.buf = d.buf[8:]
	return v
}

// fields walks a message's fields in wire order, writing each through e or
// reading it through d (exactly one is set). A message lists its fields
// once, in one walk method, so its two directions cannot drift apart.
type fields struct {
	e *encoder
	d *decoder
}

func (f fields) u8(p *uint8) {
	if f.e != nil {
		f.e.u8(*p)
		return
	}
	*p = f.d.u8()
}

func (f fields) bytes(p *[]byte) {
	if f.e != nil {
		f.e.bytes(*p)
		return
	}
	*p = f.d.bytes()
}

func (f fields) str(p *string) {
	if f.e != nil {
		f.e.str(*p)
		return
	}
	*p = f.d.str()
}

func (f fields) boolean(p *bool) {
	if f.e != nil {
		f.e.boolean(*p)
		return
	}
	*p = f.d.boolean()
}

func (f fields) strs(p *[]string) {
	if f.e != nil {
		f.e.strs(*p)
		return
	}
	*p = f.d.strs()
}

func (f fields) strMap(p *map[string]string) {
	if f.e != nil {
		f.e.strMap(*p)
		return
	}
	*p = f.d.strMap()
}

// uvarintField walks any unsigned-varint field (a Lamport time, an ID, a
// port, a duration); it is a function because methods cannot be generic.
func uvarintField[T ~uint64 | ~uint32 | ~uint16 | ~int64](f fields, p *T) {
	if f.e != nil {
		f.e.uvarint(uint64(*p))
		return
	}
	*p = T(f.d.uvarint())
}
