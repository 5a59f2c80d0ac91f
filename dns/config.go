package dns

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Config configures a Server. Start from DefaultConfig and change fields;
// New validates the result.
type Config struct {
	// Addr is the host:port served over both UDP and TCP. Port 0 picks a
	// free port; Server.Addr reports the bound one.
	Addr string
	// Domain is the zone answered from membership, e.g. "shoal.".
	Domain string
	// AltDomain, when set, is a second zone answered exactly like Domain
	// (Consul's alt_domain): every answer, SOA and NS included, names the
	// zone the client asked. PTR records name Domain.
	AltDomain string

	// NodeTTL is the TTL of <node>.node records and PTR records.
	NodeTTL time.Duration
	// ServiceTTL is the TTL of service records without an entry in
	// ServiceTTLs.
	ServiceTTL time.Duration
	// ServiceTTLs overrides ServiceTTL per service name (case-insensitive).
	ServiceTTLs map[string]time.Duration
	// NegativeTTL is the SOA minimum and TTL, which resolvers use to cache
	// NXDOMAIN and empty answers (RFC 2308). It is the only owner of that
	// field: Consul's soa.min_ttl sets it too.
	NegativeTTL time.Duration
	// SOARefresh, SOARetry and SOAExpire fill the SOA record's timers.
	// Nothing transfers the zone (AXFR is refused), so they only matter
	// to tools that read them; Consul's defaults.
	SOARefresh, SOARetry, SOAExpire time.Duration

	// MaxAnswers caps the A/AAAA records of one answer over any transport
	// (Consul's a_record_limit); 0 means no cap. The served subset is
	// random, so clients spread over instances.
	MaxAnswers int
	// UDPAnswerLimit caps the A/AAAA records of an answer sent over UDP
	// (Consul's udp_answer_limit); 0 means no cap. Over UDP the lower of
	// the two caps applies. Unlike Consul it is off by default: answers
	// are fitted to the client's buffer with TC set, so a cap is a choice
	// about spreading clients, not about fitting 512 bytes.
	UDPAnswerLimit int
	// NearSort orders A, AAAA and SRV answers nearest first by the round
	// trip estimated from network coordinates (near.go), when the view
	// provides them, instead of shuffling them.
	NearSort bool
	// OnlyPassing answers service names with passing instances only;
	// by default warning instances are answered too. Critical and
	// maintenance instances are never answered (Consul's only_passing).
	OnlyPassing bool
	// MaxUDPSize is the largest UDP response sent to an EDNS0 client and
	// the buffer size advertised in our OPT record. Clients without EDNS0
	// get at most 512 bytes.
	MaxUDPSize int

	// Recursors are upstream servers (host:port, port 53 if omitted) that
	// answer names outside Domain, tried in order. Empty: such names are
	// REFUSED.
	Recursors []string
	// RecursorTimeout bounds one exchange with one recursor.
	RecursorTimeout time.Duration
	// MaxInflightForwards bounds the queries being forwarded at once, and
	// with them the sockets and goroutines forwarding takes. Past it a
	// query for the recursors gets SERVFAIL at once.
	MaxInflightForwards int

	// ReadTimeout and WriteTimeout bound each read and write, so a slow or
	// silent TCP client cannot hold a connection. A new TCP connection
	// has ReadTimeout to send its first query.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// IdleTimeout closes a TCP connection that sent no query for this long
	// after its last answer.
	IdleTimeout time.Duration
	// TCPMaxConns bounds the TCP connections open at once. At the cap a new
	// connection replaces the longest-idle one (see tcpListener).
	TCPMaxConns int
}

// Range is the accepted interval of a setting, both ends included.
// Validate holds the settings to them; the agent's config checks its keys
// against the same ranges.
type Range[T int | time.Duration] struct{ Min, Max T }

// Check returns an error naming the range when v is outside it.
func (r Range[T]) Check(v T) error {
	if v < r.Min || v > r.Max {
		return fmt.Errorf("%v is outside [%v, %v]", v, r.Min, r.Max)
	}
	return nil
}

// The ranges of the settings that bound resources.
var (
	// TCPMaxConnsRange: every connection holds a file descriptor and a
	// goroutine; the top is far above what one agent needs.
	TCPMaxConnsRange = Range[int]{Min: 1, Max: 16384}
	// IdleTimeoutRange: RFC 7766 section 6.2.3 recommends seconds; the
	// floor lets tests run fast, the top keeps a held connection cheap.
	IdleTimeoutRange = Range[time.Duration]{Min: 100 * time.Millisecond, Max: 5 * time.Minute}
	// MaxInflightForwardsRange: each forward holds a socket until its
	// recursor answers or times out.
	MaxInflightForwardsRange = Range[int]{Min: 1, Max: 16384}
	// RecursorTimeoutRange: below 100 ms even a near upstream misses; over
	// 30 s every stub resolver has given up long before.
	RecursorTimeoutRange = Range[time.Duration]{Min: 100 * time.Millisecond, Max: 30 * time.Second}
	// AnswerLimitRange holds MaxAnswers and UDPAnswerLimit; 0 is no cap.
	AnswerLimitRange = Range[int]{Min: 0, Max: 4096}
	// SOATimerRange holds the SOA refresh, retry and expire timers, whole
	// seconds on the wire; a year is far past any secondary's needs.
	SOATimerRange = Range[time.Duration]{Min: time.Second, Max: 365 * 24 * time.Hour}
)

// DefaultConfig returns a Config with every field set. TTLs are zero, like
// Consul's: answers follow live membership and operators raise them to trade
// freshness for load.
func DefaultConfig() Config {
	return Config{
		Addr:                "127.0.0.1:8600",
		Domain:              "shoal.",
		NodeTTL:             0,
		ServiceTTL:          0,
		NegativeTTL:         0,
		MaxAnswers:          0,
		UDPAnswerLimit:      0,
		SOARefresh:          time.Hour,        // Consul's soa defaults
		SOARetry:            10 * time.Minute, //
		SOAExpire:           24 * time.Hour,   //
		MaxUDPSize:          1232,             // DNS flag day 2020: avoids IP fragmentation
		RecursorTimeout:     2 * time.Second,
		MaxInflightForwards: 256,
		ReadTimeout:         2 * time.Second,
		WriteTimeout:        2 * time.Second,
		IdleTimeout:         10 * time.Second, // RFC 7766 suggests seconds, not minutes
		TCPMaxConns:         150,              // BIND's tcp-clients default
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("dns addr %q: %w", c.Addr, err))
	}
	if err := checkDomain(c.Domain); err != nil {
		errs = append(errs, fmt.Errorf("dns domain: %w", err))
	}
	if c.AltDomain != "" {
		if err := checkDomain(c.AltDomain); err != nil {
			errs = append(errs, fmt.Errorf("dns alt domain: %w", err))
		} else if strings.EqualFold(mdns.Fqdn(c.AltDomain), mdns.Fqdn(c.Domain)) {
			errs = append(errs, fmt.Errorf("dns alt domain %q is the domain", c.AltDomain))
		}
	}
	for name, d := range map[string]time.Duration{
		"node ttl": c.NodeTTL, "service ttl": c.ServiceTTL, "negative ttl": c.NegativeTTL,
	} {
		if err := checkTTL(d); err != nil {
			errs = append(errs, fmt.Errorf("dns %s: %w", name, err))
		}
	}
	for svc, d := range c.ServiceTTLs {
		if err := checkTTL(d); err != nil {
			errs = append(errs, fmt.Errorf("dns ttl of service %q: %w", svc, err))
		}
	}
	if c.MaxUDPSize < mdns.MinMsgSize || c.MaxUDPSize > mdns.MaxMsgSize {
		errs = append(errs, fmt.Errorf("dns max udp size %d is outside [%d, %d]",
			c.MaxUDPSize, mdns.MinMsgSize, mdns.MaxMsgSize))
	}
	for _, r := range c.Recursors {
		if _, err := recursorAddr(r); err != nil {
			errs = append(errs, err)
		}
	}
	for name, d := range map[string]time.Duration{"read timeout": c.ReadTimeout, "write timeout": c.WriteTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("dns %s %s must be positive", name, d))
		}
	}
	for _, err := range []error{
		wrapRange("recursor timeout", RecursorTimeoutRange.Check(c.RecursorTimeout)),
		wrapRange("max inflight forwards", MaxInflightForwardsRange.Check(c.MaxInflightForwards)),
		wrapRange("idle timeout", IdleTimeoutRange.Check(c.IdleTimeout)),
		wrapRange("tcp max conns", TCPMaxConnsRange.Check(c.TCPMaxConns)),
		wrapRange("max answers", AnswerLimitRange.Check(c.MaxAnswers)),
		wrapRange("udp answer limit", AnswerLimitRange.Check(c.UDPAnswerLimit)),
		wrapRange("soa refresh", SOATimerRange.Check(c.SOARefresh)),
		wrapRange("soa retry", SOATimerRange.Check(c.SOARetry)),
		wrapRange("soa expire", SOATimerRange.Check(c.SOAExpire)),
	} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func wrapRange(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("dns %s: %w", name, err)
}

// checkDomain accepts a non-root domain name, with or without the final dot.
func checkDomain(d string) error {
	fq := mdns.Fqdn(d)
	if d == "" || fq == "." {
		return errors.New("is empty")
	}
	if _, ok := mdns.IsDomainName(fq); !ok {
		return fmt.Errorf("%q is not a valid domain name", d)
	}
	return nil
}

// checkTTL accepts durations that fit a DNS TTL in whole seconds.
func checkTTL(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s is negative", d)
	}
	if d.Seconds() > float64(1<<31-1) { // RFC 2181 section 8
		return fmt.Errorf("%s is over 2^31-1 seconds", d)
	}
	return nil
}

// recursorAddr returns r as host:port, adding port 53 when r has none.
func recursorAddr(r string) (string, error) {
	if host, port, err := net.SplitHostPort(r); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("dns recursor %q: empty host or port", r)
		}
		return r, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(r, "["), "]")
	if host == "" || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", fmt.Errorf("dns recursor %q is not host or host:port", r)
	}
	return net.JoinHostPort(host, "53"), nil
}

// ttlSeconds converts a validated TTL to the wire's seconds.
func ttlSeconds(d time.Duration) uint32 { return uint32(d / time.Second) }

// serviceTTL returns the TTL of the service called name (lowercase).
func (c Config) serviceTTL(name string) uint32 {
	for svc, d := range c.ServiceTTLs {
		if strings.EqualFold(svc, name) {
			return ttlSeconds(d)
		}
	}
	return ttlSeconds(c.ServiceTTL)
}
