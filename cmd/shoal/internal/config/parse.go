package config

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// ParseHostPort splits ADDR:PORT (or a bare ADDR, which gets defPort) and
// requires ADDR to be an IP literal: memberlist binds to addresses, not names.
func ParseHostPort(s string, defPort int) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// A bare address: "10.0.0.1" or "::1".
		if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
			return ip.String(), defPort, nil
		}
		return "", 0, fmt.Errorf("%q is not ADDR:PORT", s)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", 0, fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, portStr)
	}
	return ip.String(), port, nil
}

// checkListenAddr accepts ADDR:PORT for the HTTP and DNS listeners.
func checkListenAddr(s string) error {
	if s == "" {
		return nil // disabled
	}
	_, _, err := ParseHostPort(s, -1)
	if err == nil && !strings.Contains(s, ":") {
		return fmt.Errorf("%q has no port", s)
	}
	return err
}

// ParseTag parses KEY=VALUE.
func ParseTag(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q is not KEY=VALUE", s)
	}
	return k, v, nil
}

// isDNSLabel reports whether s is a DNS label: 1-63 letters, digits and
// '-', neither first nor last a '-'. A loop, not a regexp: the bounded
// repetition compiled at package init cost every CLI call (`shoal event`
// included) about 0.2 ms and 44 KB before main ran.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	return labelChars(s)
}

// labelChars reports whether s holds only what a DNS label may: ASCII
// letters, digits and '-'.
func labelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseService parses NAME:PORT[:TAG,TAG...].
func ParseService(s string) (node.Service, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return node.Service{}, fmt.Errorf("%q is not NAME:PORT[:TAG,TAG...]", s)
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil {
		return node.Service{}, fmt.Errorf("%q: port %q is not a number", s, parts[1])
	}
	svc := node.Service{Name: parts[0], Port: 0, Weight: 1}
	if len(parts) == 3 && parts[2] != "" {
		svc.Tags = strings.Split(parts[2], ",")
	}
	if err := checkService(svc.Name, port, svc.Tags, svc.Weight); err != nil {
		return node.Service{}, fmt.Errorf("%q: %w", s, err)
	}
	svc.Port = uint16(port)
	return svc, nil
}

// checkService holds the rules a service must meet wherever it was declared:
// its name and tags become DNS labels.
func checkService(name string, port int, tags []string, weight int) error {
	var errs []string
	if !isDNSLabel(name) {
		errs = append(errs, fmt.Sprintf("service name %q must be a DNS label (letters, digits, '-')", name))
	}
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Sprintf("service port %d must be from 1 to 65535", port))
	}
	for _, t := range tags {
		if !isDNSLabel(t) {
			errs = append(errs, fmt.Sprintf("service tag %q must be a DNS label (letters, digits, '-')", t))
		}
	}
	if weight < 0 || weight > 65535 {
		errs = append(errs, fmt.Sprintf("service weight %d must be from 0 to 65535", weight))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// ParseLevel accepts debug, info, warn (warning) and error, any case
// (logging.ParseLevel, which owns the rule).
func ParseLevel(s string) (slog.Level, error) { return logging.ParseLevel(s) }

// ParseProfile accepts the memberlist timing profiles.
func ParseProfile(s string) (string, error) {
	switch s {
	case "lan", "wan", "local":
		return s, nil
	}
	return "", fmt.Errorf("%q is not a profile (lan, wan, local)", s)
}

// DecodeKey decodes a base64 gossip key and checks its AES length. The
// config's encrypt = "" means no key and is not decoded.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("key is %d bytes, want 16, 24 or 32 (use `shoal keygen`)", len(k))
}

// GenerateKey returns a new random 32-byte (AES-256) gossip key, base64:
// what `shoal keygen` prints and -dev's keyring holds.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// parseDuration parses a Go duration; the key's range (a negative value
// is out of every range) is checked by the caller.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 500ms, 5s, 1m)", s)
	}
	return d, nil
}
