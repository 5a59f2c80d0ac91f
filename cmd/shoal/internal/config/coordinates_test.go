package config

import "testing"

func TestLoad_CoordinateKeys(t *testing.T) {
	if c, err := load(t); err != nil || c.DisableCoordinates || c.DNS.NearSort {
		t.Fatalf("defaults: got disable_coordinates %v, near_sort %v, err %v; want both off (shuffled answers)",
			c.DisableCoordinates, c.DNS.NearSort, err)
	}
	dir := t.TempDir()
	p := write(t, dir, "a.hcl", "disable_coordinates = true\ndns {\n  near_sort = true\n}\n")
	if c, err := load(t, "-config-file", p); err != nil || !c.DisableCoordinates || !c.DNS.NearSort {
		t.Errorf("HCL: got disable_coordinates %v, near_sort %v, err %v; want both on", c.DisableCoordinates, c.DNS.NearSort, err)
	}
	j := write(t, dir, "b.json", `{"disable_coordinates": true, "dns": {"near_sort": true}}`)
	if c, err := load(t, "-config-file", j); err != nil || !c.DisableCoordinates || !c.DNS.NearSort {
		t.Errorf("JSON: got disable_coordinates %v, near_sort %v, err %v; want both on", c.DisableCoordinates, c.DNS.NearSort, err)
	}
}
