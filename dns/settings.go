package dns

import (
	"strings"

	mdns "github.com/miekg/dns"
)

// settings is a validated Config with what the handler derives from it.
// Every query is answered from one settings value, reached through the
// index built with it, so a reload swaps all of them at once and no query
// sees half of an old config and half of a new one.
type settings struct {
	Config
	// domain and altDomain are lowercase and fully qualified; altDomain
	// is "" when unset.
	domain, altDomain string
	recursors         []string     // host:port
	udp, tcp          *mdns.Client // to the recursors
}

// newSettings derives the settings of cfg, which New or Reload validated.
func newSettings(cfg Config) *settings {
	s := &settings{
		Config: cfg,
		domain: strings.ToLower(mdns.Fqdn(cfg.Domain)),
		udp:    &mdns.Client{Net: "udp", Timeout: cfg.RecursorTimeout, UDPSize: uint16(cfg.MaxUDPSize)},
		tcp:    &mdns.Client{Net: "tcp", Timeout: cfg.RecursorTimeout},
	}
	if cfg.AltDomain != "" {
		s.altDomain = strings.ToLower(mdns.Fqdn(cfg.AltDomain))
	}
	for _, r := range cfg.Recursors {
		addr, _ := recursorAddr(r) // validated
		s.recursors = append(s.recursors, addr)
	}
	return s
}

// zone returns the domain name (a lowercase name) is in, and false when it
// is in neither. When one domain lies inside the other, the longer one
// holds the name, as a delegation would.
func (s *settings) zone(name string) (string, bool) {
	inDomain := mdns.IsSubDomain(s.domain, name)
	if s.altDomain != "" && mdns.IsSubDomain(s.altDomain, name) &&
		(!inDomain || len(s.altDomain) > len(s.domain)) {
		return s.altDomain, true
	}
	return s.domain, inDomain
}

// answerLimit is the cap on the A/AAAA records of one answer, 0 for none:
// MaxAnswers, and over UDP the lower of it and UDPAnswerLimit.
func (s *settings) answerLimit(tcp bool) int {
	limit := s.MaxAnswers
	if u := s.UDPAnswerLimit; !tcp && u > 0 && (limit == 0 || u < limit) {
		limit = u
	}
	return limit
}
