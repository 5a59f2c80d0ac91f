package backends

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// hapConfig is an HAProxy configuration as the runtime path reads it: the
// sections in order, each with its server lines apart from everything else
// (the structure). It is not a validator: haproxy -c has accepted the file
// before it is parsed here.
type hapConfig struct {
	sections []*hapSection
}

// hapSection is one section: global, defaults, frontend, backend, listen,
// or any other HAProxy section, whose lines are then all structure.
type hapSection struct {
	kind   string // "global", "backend", ...; "" for lines before any section
	name   string
	header string   // the section line, normalised
	lines  []string // every line but server lines, normalised, in order
	// servers are the server lines of a backend or listen section.
	servers []*hapServer
	// defaultServer holds the default-server options in force for the
	// section's servers: its defaults section's, then its own.
	defaultServer []string
}

// hasServers reports whether the section's server lines are servers the
// runtime API can manage.
func (s *hapSection) hasServers() bool { return s.kind == "backend" || s.kind == "listen" }

func (s *hapSection) server(name string) *hapServer {
	for _, srv := range s.servers {
		if srv.name == name {
			return srv
		}
	}
	return nil
}

// hapServer is one server line with its effective settings: the
// default-server options in force, then the line's own.
type hapServer struct {
	name string
	// line is the line after the name, normalised: equal lines need no
	// runtime change at all.
	line string
	// addr and port are the server's address when the line gives an IP
	// literal and a plain port (port 0: none, HAProxy uses the client's
	// destination port); hasAddr is false otherwise.
	addr    netip.Addr
	port    int
	hasAddr bool
	// readable: every option is a known keyword, so weight, disabled and
	// opts below are right. An unreadable line can only stay unchanged.
	readable bool
	weight   int
	disabled bool
	// opts are the effective options without weight, disabled and enabled,
	// each keyword once with its arguments: what "add server" is given, and
	// what must stay equal for a change to be made at runtime.
	opts []string
	// notAddable names the first option "add server" refuses, "" if none.
	notAddable string
}

// hostPort formats the address for "add server": [v6]:port or v4:port.
func (s *hapServer) hostPort() string {
	host := s.addr.String()
	if s.addr.Is6() {
		host = "[" + host + "]"
	}
	if s.port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(s.port)
}

// static is what must be equal between two versions of a server for the
// difference to be applied with "set server" commands.
func (s *hapServer) static() string {
	if !s.readable || !s.hasAddr {
		return "\x00" + s.line // only the very same line
	}
	return strings.Join(s.opts, " ")
}

// sectionKeywords start a section. A keyword missing here leaves its lines
// in the previous section, where they are structure all the same.
var sectionKeywords = setOf("global", "defaults", "frontend", "backend", "listen",
	"peers", "resolvers", "userlist", "mailers", "program", "http-errors", "ring",
	"cache", "fcgi-app")

// parseHAProxyConfig reads an HAProxy configuration's section structure and
// server lines.
func parseHAProxyConfig(content []byte) (*hapConfig, error) {
	cfg := &hapConfig{}
	cur := &hapSection{}
	cfg.sections = append(cfg.sections, cur)
	named := map[string]*hapSection{}
	var lastDefaults *hapSection
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		tokens, plain := tokenize(sc.Text())
		if len(tokens) == 0 {
			continue
		}
		norm := strings.Join(tokens, " ")
		if sectionKeywords[tokens[0]] {
			cur = &hapSection{kind: tokens[0], header: norm}
			if len(tokens) > 1 && tokens[1] != "from" {
				cur.name = tokens[1]
			}
			cfg.sections = append(cfg.sections, cur)
			if cur.kind == "defaults" || cur.hasServers() {
				last := lastDefaults
				if cur.kind == "defaults" {
					last = nil // a defaults section starts afresh unless "from" says
				}
				base, err := inheritedDefaults(tokens, named, last)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
				if base != nil {
					cur.defaultServer = slices.Clone(base.defaultServer)
				}
			}
			if cur.kind == "defaults" {
				lastDefaults = cur
				if cur.name != "" {
					named[cur.name] = cur
				}
			}
			continue
		}
		switch {
		case tokens[0] == "default-server" && (cur.kind == "defaults" || cur.hasServers()):
			cur.defaultServer = append(cur.defaultServer, tokens[1:]...)
			cur.lines = append(cur.lines, norm)
		case tokens[0] == "server" && cur.hasServers():
			if len(tokens) < 2 {
				return nil, fmt.Errorf("line %d: server line without a name", n)
			}
			cur.servers = append(cur.servers, parseServer(tokens, plain, cur.defaultServer))
		default:
			cur.lines = append(cur.lines, norm)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return cfg, nil
}

// inheritedDefaults returns the defaults section a section line inherits
// from: the one it names with "from", else last.
func inheritedDefaults(tokens []string, named map[string]*hapSection, last *hapSection) (*hapSection, error) {
	i := slices.Index(tokens, "from")
	if i < 0 {
		return last, nil
	}
	if i+1 >= len(tokens) {
		return nil, fmt.Errorf("%q: from without a defaults name", strings.Join(tokens, " "))
	}
	d, ok := named[tokens[i+1]]
	if !ok {
		return nil, fmt.Errorf("%q: no defaults section %q before it", strings.Join(tokens, " "), tokens[i+1])
	}
	return d, nil
}

// tokenize splits a configuration line into words the way HAProxy does for
// the lines shoal's runtime path reads, dropping the comment. plain is
// false when the line uses quotes, escapes or environment variables: its
// words are then kept as written, good for comparing, not for reading.
func tokenize(line string) (tokens []string, plain bool) {
	plain = true
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == quote {
				quote = 0
			}
			continue
		case c == '\\' && i+1 < len(line):
			plain = false
			cur.WriteByte(c)
			cur.WriteByte(line[i+1])
			i++
			inWord = true
			continue
		case c == '"' || c == '\'':
			plain = false
			quote = c
			cur.WriteByte(c)
			inWord = true
			continue
		case c == '#':
			i = len(line)
			continue
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				tokens = append(tokens, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		if c == '$' {
			plain = false
		}
		cur.WriteByte(c)
		inWord = true
	}
	if inWord {
		tokens = append(tokens, cur.String())
	}
	return tokens, plain
}

// parseServer reads "server <name> <address> [options]" with the
// default-server options in force.
func parseServer(tokens []string, plain bool, defaults []string) *hapServer {
	s := &hapServer{name: tokens[1], line: strings.Join(tokens[2:], " "), weight: 1}
	if !plain || len(tokens) < 3 {
		return s
	}
	s.addr, s.port, s.hasAddr = parseServerAddr(tokens[2])
	opts := append(slices.Clone(defaults), tokens[3:]...)
	eff, ok := effectiveOptions(opts)
	if !ok {
		return s
	}
	s.readable = true
	for _, o := range eff {
		kw := o[0]
		switch kw {
		case "weight":
			w, err := strconv.Atoi(o[1])
			if err != nil {
				s.readable = false
				return s
			}
			s.weight = w
			continue
		case "disabled":
			s.disabled = true
			continue
		case "enabled":
			s.disabled = false
			continue
		}
		if !addable[kw] && s.notAddable == "" {
			s.notAddable = kw
		}
		s.opts = append(s.opts, o...)
	}
	return s
}

// effectiveOptions groups options into keyword and arguments, keeping each
// keyword's last occurrence (a server's own option overrides the
// default-server one) and resolving "no-<flag>" by dropping the flag. It
// returns false when an option is not a known keyword. "disabled" and
// "enabled" cancel each other and are returned as the last one given.
func effectiveOptions(tokens []string) ([][]string, bool) {
	var out [][]string
	drop := func(kw string) {
		out = slices.DeleteFunc(out, func(o []string) bool { return o[0] == kw })
	}
	for i := 0; i < len(tokens); i++ {
		kw := tokens[i]
		nargs, known := serverKeywords[kw]
		if !known || i+nargs >= len(tokens) {
			return nil, false
		}
		opt := tokens[i : i+1+nargs]
		i += nargs
		if base, ok := strings.CutPrefix(kw, "no-"); ok && !addable[kw] {
			if n, isFlag := serverKeywords[base]; isFlag && n == 0 {
				drop(base)
				continue
			}
		}
		switch kw {
		case "disabled", "enabled":
			drop("disabled")
			drop("enabled")
		default:
			drop(kw)
		}
		out = append(out, slices.Clone(opt))
	}
	return out, true
}

// parseServerAddr reads a server address that the runtime API can set: an
// IPv4 or IPv6 literal (bracketed, or with an ipv4@/ipv6@ prefix) with an
// optional plain port.
func parseServerAddr(token string) (netip.Addr, int, bool) {
	token = strings.TrimPrefix(strings.TrimPrefix(token, "ipv4@"), "ipv6@")
	if ap, err := netip.ParseAddrPort(token); err == nil {
		return ap.Addr().Unmap(), int(ap.Port()), ap.Port() != 0
	}
	if a, err := netip.ParseAddr(strings.Trim(token, "[]")); err == nil && !a.Is6() {
		return a, 0, true // an IPv4 address without a port
	}
	if i := strings.LastIndexByte(token, ':'); i > 0 {
		// HAProxy's unbracketed IPv6 form, "::1:80".
		a, errA := netip.ParseAddr(token[:i])
		p, errP := strconv.Atoi(token[i+1:])
		if errA == nil && errP == nil && p > 0 && p < 65536 && token[i+1] != '+' {
			return a, p, true
		}
	}
	return netip.Addr{}, 0, false
}
