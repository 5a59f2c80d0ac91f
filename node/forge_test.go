package node

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"net"
	"testing"
)

// Forged memberlist packets, built the way memberlist builds them, for
// tests that attack a real node from the outside. memberlist sends each
// message as one type byte and a msgpack map of the struct's fields (old
// msgpack spec: strings and byte slices are both "raw"); see memberlist's
// net.go (alive, aliveMsg) and util.go (encode).

const memberlistAliveMsg = 4 // memberlist's aliveMsg message type

type forgedAlive struct {
	Name string
	Addr net.IP
	Port uint16
	Meta []byte
}

// packet encodes a as memberlist's UDP alive message.
func (a forgedAlive) packet() []byte {
	addr := []byte(a.Addr)
	if v4 := a.Addr.To4(); v4 != nil {
		addr = v4
	}
	b := []byte{memberlistAliveMsg, 0x80 | 6} // a fixmap of 6 fields
	b = mpRaw(b, []byte("Incarnation"))
	b = binary.BigEndian.AppendUint32(append(b, 0xce), 1) // uint32
	b = mpRaw(b, []byte("Node"))
	b = mpRaw(b, []byte(a.Name))
	b = mpRaw(b, []byte("Addr"))
	b = mpRaw(b, addr)
	b = mpRaw(b, []byte("Port"))
	b = binary.BigEndian.AppendUint16(append(b, 0xcd), a.Port) // uint16
	b = mpRaw(b, []byte("Meta"))
	b = mpRaw(b, a.Meta)
	b = mpRaw(b, []byte("Vsn"))
	// Protocol min, max, current; delegate min, max, current: what a
	// shoal node advertises.
	return mpRaw(b, []byte{1, 5, 2, 0, 0, 0})
}

// mpRaw appends a msgpack raw (string or bytes) of the old spec.
func mpRaw(b, s []byte) []byte {
	switch {
	case len(s) < 32:
		b = append(b, 0xa0|byte(len(s)))
	case len(s) < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(len(s)))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(len(s)))
	}
	return append(b, s...)
}

// encryptPacket seals a packet as memberlist's encryption version 1 does
// (AES-GCM, no padding; the gossip label, empty here, is the additional
// data): version byte, 12-byte nonce, ciphertext and tag.
func encryptPacket(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(append([]byte{1}, nonce...), nonce, plain, nil)
}

// forger sends forged packets from one UDP socket that never answers; the
// forged members claim its address, so probing them reaches no one.
type forger struct {
	t    testing.TB
	conn *net.UDPConn
}

func newForger(t testing.TB) *forger {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &forger{t: t, conn: conn}
}

// alive is a forged alive message for name at the forger's own address.
func (f *forger) alive(name string, meta []byte) forgedAlive {
	a := f.conn.LocalAddr().(*net.UDPAddr)
	return forgedAlive{Name: name, Addr: a.IP, Port: uint16(a.Port), Meta: meta}
}

func (f *forger) send(to string, packet []byte) {
	f.t.Helper()
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.conn.WriteToUDP(packet, addr); err != nil {
		f.t.Fatalf("send forged packet: %v", err)
	}
}
