package agent

import "testing"

// dns.only_passing (Consul's key) reaches package dns; off by default, so
// warning instances are answered.
func TestDNSConfig_OnlyPassing(t *testing.T) {
	if dnsConfig(loadConfig(t, "")).OnlyPassing {
		t.Errorf("default: got only_passing on, want off")
	}
	if !dnsConfig(loadConfig(t, "dns {\n  only_passing = true\n}\n")).OnlyPassing {
		t.Errorf("dns { only_passing = true }: got off, want on")
	}
}
