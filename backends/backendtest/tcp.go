package backendtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// NamedTCPServer starts a TCP server on 127.0.0.1 that greets each
// connection with name and a newline, then echoes what it reads: a client
// learns which server the load balancer chose, and a long-lived connection
// can prove it is still open. It returns the server's address, and stops
// it, closing every connection, when the test ends.
func NamedTCPServer(t testing.TB, name string) string {
	t.Helper()
	addr, stop, err := ServeNamedTCP(name)
	if err != nil {
		t.Fatalf("listen for server %s: %v", name, err)
	}
	t.Cleanup(stop)
	return addr
}

// ServeNamedTCP is NamedTCPServer for programs outside tests (the
// benchmarks under test/): stop closes the listener and every connection
// and waits for them.
func ServeNamedTCP(name string) (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				if _, err := io.WriteString(c, name+"\n"); err != nil {
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
	stop = func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	return l.Addr().String(), stop, nil
}

// AskName opens a new connection to 127.0.0.1:port and returns the name
// the NamedTCPServer behind it greets it with.
func AskName(port int) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read greeting: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// HeldConn is a connection to a NamedTCPServer, usually through a load
// balancer, held open: after the greeting, the server echoes every line.
type HeldConn struct {
	net.Conn
	rd *bufio.Reader
}

// DialNamed connects to 127.0.0.1:port and returns the connection with the
// name its server greeted it with; timeout bounds the dial and the
// greeting.
func DialNamed(port int, timeout time.Duration) (*HeldConn, string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), timeout)
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(timeout))
	hc := &HeldConn{Conn: c, rd: bufio.NewReader(c)}
	greeting, err := hc.rd.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("read greeting: %w", err)
	}
	return hc, strings.TrimSpace(greeting), nil
}

// Echo reports whether the connection still carries a line both ways
// within timeout.
func (c *HeldConn) Echo(timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo %q, want ping", line)
	}
	return nil
}
