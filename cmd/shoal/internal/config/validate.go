package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Validate checks the rules that span fields or sources and normalises the
// domain. It reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.NodeName == "" {
		bad("node_name (-node) is empty")
	} else if strings.IndexFunc(c.NodeName, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		bad("node_name (-node) %q contains spaces or control characters", c.NodeName)
	}
	if c.EncryptKey != "" && c.KeyringFile != "" {
		bad("encrypt (-encrypt) and keyring_file (-keyring-file) exclude each other: put the key in the keyring file")
	}
	c.Domain = strings.TrimSpace(c.Domain)
	if c.Domain == "" || c.Domain == "." {
		bad("domain (-domain) is empty")
	} else if !strings.HasSuffix(c.Domain, ".") {
		c.Domain += "."
	}
	c.AltDomain = strings.TrimSpace(c.AltDomain)
	if c.AltDomain == "." {
		bad("alt_domain (-alt-domain) is the root")
	} else if c.AltDomain != "" && !strings.HasSuffix(c.AltDomain, ".") {
		c.AltDomain += "."
	}
	if c.AltDomain != "" && strings.EqualFold(c.AltDomain, c.Domain) {
		bad("alt_domain (-alt-domain) %q is the domain", c.AltDomain)
	}
	errs = append(errs, CheckIDs(c.ServiceDefs, c.NodeChecks)...)
	for k := range c.Tags {
		if k == "" || strings.ContainsAny(k, "=,\t\n") {
			bad("tag key %q must be non-empty without '=', ',', tabs or newlines", k)
		}
	}
	if c.HTTPAddr != "" && c.HTTPAddr == c.DNSAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		bad("http_addr and dns_addr are both %s", c.HTTPAddr)
	}
	if err := c.checkHTTPCaps(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.checkSerfOptions()...)
	return errors.Join(errs...)
}
