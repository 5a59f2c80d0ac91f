package checks

import (
	"context"
	"fmt"
	"net"

	"github.com/shoal-dev/shoal/node"
)

// tcpProber passes when a connection to the target opens within Timeout.
type tcpProber struct{ def Definition }

func (p tcpProber) probe(ctx context.Context) probe {
	d := net.Dialer{Timeout: p.def.EffectiveTimeout()}
	conn, err := d.DialContext(ctx, "tcp", p.def.TCP)
	if err != nil {
		note := err.Error()
		if isTimeout(err) {
			note = fmt.Sprintf("timed out after %s", p.def.EffectiveTimeout())
		}
		return probe{status: node.HealthCritical, note: note, output: fmt.Sprintf("TCP connect %s: %v", p.def.TCP, err)}
	}
	conn.Close()
	return probe{status: node.HealthPassing, note: "TCP connect " + p.def.TCP + ": success", output: fmt.Sprintf("TCP connect %s: success", p.def.TCP)}
}
