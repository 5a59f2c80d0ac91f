package config

import "testing"

// dns.only_passing (Consul's key) is off by default: warning instances
// are answered.
func TestLoad_DNSOnlyPassing(t *testing.T) {
	if c, err := load(t); err != nil || c.DNS.OnlyPassing {
		t.Fatalf("default: got only_passing %v, err %v; want off", c.DNS.OnlyPassing, err)
	}
	p := write(t, t.TempDir(), "a.hcl", "dns {\n  only_passing = true\n}\n")
	if c, err := load(t, "-config-file", p); err != nil || !c.DNS.OnlyPassing {
		t.Errorf("HCL: got only_passing %v, err %v; want on", c.DNS.OnlyPassing, err)
	}
}
