package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Defaults and ranges of the HTTP API's connection caps. Past a cap a new
// connection is closed at once, so one client cannot take every
// connection (or file descriptor) and /v1/health keeps answering others.
const (
	DefaultHTTPMaxConns          = 512
	DefaultHTTPMaxConnsPerClient = 64
	maxHTTPConns                 = 100_000
)

// HTTP is the API's Host rule and connection caps.
type HTTP struct {
	// AllowedHosts are the names, besides IP literals and localhost, that
	// requests to the API may carry in Host (DNS-rebinding defence):
	// lower-case, without a trailing dot.
	AllowedHosts []string
	// MaxConns and MaxConnsPerClient cap the API's concurrent
	// connections in total and per client IP address.
	MaxConns          int
	MaxConnsPerClient int
}

// DefaultHTTP is the API's default Host rule and caps.
func DefaultHTTP() HTTP {
	return HTTP{MaxConns: DefaultHTTPMaxConns, MaxConnsPerClient: DefaultHTTPMaxConnsPerClient}
}

// applyHTTP lays the file's http_allowed_hosts and connection caps over c.
// The cross-key rule (per client <= total) is Validate's: it needs every
// file and flag applied first.
func (a *applier) applyHTTP(c *Config, fc *fileConfig) {
	for i, h := range fc.HTTPAllowedHosts {
		name, err := allowedHost(h)
		if err != nil {
			a.fail(fmt.Sprintf("http_allowed_hosts[%d]", i), err)
			continue
		}
		c.HTTP.AllowedHosts = append(c.HTTP.AllowedHosts, name)
	}
	for key, pair := range map[string]struct {
		dst *int
		src *int
	}{
		"http_max_conns":            {&c.HTTP.MaxConns, fc.HTTPMaxConns},
		"http_max_conns_per_client": {&c.HTTP.MaxConnsPerClient, fc.HTTPMaxConnsPerClient},
	} {
		if pair.src == nil {
			continue
		}
		if n := *pair.src; n < 1 || n > maxHTTPConns {
			a.fail(key, fmt.Errorf("%d is not within 1..%d", n, maxHTTPConns))
			continue
		}
		*pair.dst = *pair.src
	}
}

// allowedHost checks one http_allowed_hosts entry: a DNS name the API may
// be reached by, without port or scheme. It returns the name lower-cased
// and without a trailing dot, as the API compares it.
func allowedHost(h string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if name == "" {
		return "", fmt.Errorf("%q is empty", h)
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return "", fmt.Errorf("%q is an IP address: IP addresses are always allowed, list only names", h)
	}
	if len(name) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", h)
	}
	for _, label := range strings.Split(name, ".") {
		if !hostLabel(label) {
			return "", fmt.Errorf("%q is not a host name (letters, digits and '-' between dots; no port, scheme or wildcard)", h)
		}
	}
	return name, nil
}

func hostLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkHTTPCaps holds the rule between the two caps.
func (c *Config) checkHTTPCaps() error {
	if c.HTTP.MaxConnsPerClient > c.HTTP.MaxConns {
		return fmt.Errorf("http_max_conns_per_client %d is more than http_max_conns %d", c.HTTP.MaxConnsPerClient, c.HTTP.MaxConns)
	}
	return nil
}
