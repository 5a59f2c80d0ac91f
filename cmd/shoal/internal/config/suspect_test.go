package config

import "testing"

// drain_on_suspect defaults to true; false makes the template serve
// suspect members with their weight.
func TestLoad_DrainOnSuspect(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "lb.hcl", `
template {
  source         = "builtin:haproxy"
  destination    = "/etc/haproxy/a.cfg"
  reload_command = ["true"]
}
template {
  source           = "builtin:haproxy"
  destination      = "/etc/haproxy/b.cfg"
  reload_command   = ["true"]
  drain_on_suspect = false
}
`)
	c, err := load(t, "-config-file", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Templates) != 2 || c.Templates[0].ServeSuspects || !c.Templates[1].ServeSuspects {
		t.Fatalf("templates %+v: want the first draining suspects (the default), the second not", c.Templates)
	}
}
