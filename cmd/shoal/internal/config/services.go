package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// ServiceDef is one service instance as declared in a config file
// (`service { ... }`), by -service or through the API: plain data that the
// agent turns into a registration of its local registry. The config
// package owns the rules a definition must meet (Validate), so a file and
// an API request are refused for the same reasons with the same words.
type ServiceDef struct {
	// ID is unique among the agent's instances; SetDefaults makes it Name.
	ID   string
	Name string
	// Address is an IP literal; "" means the member's address.
	Address string
	Port    int
	Tags    []string
	Weight  int
	Meta    map[string]string
	Checks  []CheckDef
}

// CheckDef is one `check { ... }` block: of a service, or at the top level
// of a file for a node-level check. Exactly one of HTTP, TCP, Args and TTL
// says what kind it is.
type CheckDef struct {
	// ID is unique among the agent's checks (the ID `shoal check pass`
	// takes); SetDefaults derives one from the service's ID.
	ID   string
	Name string

	HTTP   string              // URL; 2xx passing, 429 warning, else critical
	Method string              // default GET
	Header map[string][]string // extra request headers
	TCP    string              // HOST:PORT
	Args   []string            // argv run without a shell
	TTL    time.Duration       // updated by `shoal check` or the API

	// Interval is how often an http, tcp or script check runs (default
	// DefaultCheckInterval); Timeout bounds one run (0: the checks
	// package's default).
	Interval, Timeout time.Duration

	SuccessBeforePassing, FailuresBeforeCritical int
	// Initial is the status before the first result when InitialSet;
	// otherwise a check starts critical.
	Initial    node.Health
	InitialSet bool
}

// DefaultCheckInterval is the interval of an http, tcp or script check
// that sets none.
const DefaultCheckInterval = 10 * time.Second

// The ranges of the check keys (see ranges.go for the other keys).
var (
	checkIntervalRange = durRange{min: 100 * time.Millisecond, max: day}
	checkTimeoutRange  = durRange{min: 10 * time.Millisecond, max: time.Hour}
	checkTTLRange      = durRange{min: 100 * time.Millisecond, max: day}
	checkCountRange    = intRange{0, 1000} // success_before_passing, failures_before_critical
)

// Limits of a service's free-form parts.
const (
	maxMetaPairs    = 64
	maxMetaValueLen = 512
	maxCheckNameLen = 256
)

// SetDefaults fills what a definition may leave out: the ID (the name),
// and the ID and interval of each check. Check IDs are "<service id>-check"
// for the first check and "<service id>-check-N" for the Nth after it.
func (d *ServiceDef) SetDefaults() {
	if d.ID == "" {
		d.ID = d.Name
	}
	for i := range d.Checks {
		d.Checks[i].setDefaults(d.ID+"-check", i)
	}
}

// SetNodeCheckDefaults fills the defaults of node-level checks; their IDs
// default to "node-check", "node-check-2", ...
func SetNodeCheckDefaults(cs []CheckDef) {
	for i := range cs {
		cs[i].setDefaults("node-check", i)
	}
}

func (c *CheckDef) setDefaults(idBase string, i int) {
	if c.ID == "" {
		c.ID = idBase
		if i > 0 {
			c.ID += "-" + strconv.Itoa(i+1)
		}
	}
	if c.TTL == 0 && c.Interval == 0 {
		c.Interval = DefaultCheckInterval
	}
}

// Validate reports every problem of a definition, each naming its field
// ("port 0 must be from 1 to 65535", "check[1]: interval 50ms: ...").
// Call SetDefaults first. Uniqueness across definitions is CheckIDs's.
func (d ServiceDef) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !node.ValidTagKey(d.ID) {
		bad("id %q must be 1-64 letters, digits, '_', '.' or '-'", d.ID)
	}
	if err := checkService(d.Name, d.Port, d.Tags, d.Weight); err != nil {
		errs = append(errs, err)
	}
	if d.Address != "" {
		if ip := net.ParseIP(d.Address); ip == nil {
			bad("address %q is not an IP address", d.Address)
		} else if ip.IsUnspecified() {
			bad("address %q cannot be reached: give the instance's own IP, or leave address out for the member's", d.Address)
		}
	}
	if len(d.Meta) > maxMetaPairs {
		bad("meta has %d keys, at most %d are allowed", len(d.Meta), maxMetaPairs)
	}
	for k, v := range d.Meta {
		if !node.ValidTagKey(k) {
			bad("meta key %q must be 1-64 letters, digits, '_', '.' or '-'", k)
		}
		if len(v) > maxMetaValueLen {
			bad("meta.%s is %d bytes, at most %d are allowed", k, len(v), maxMetaValueLen)
		}
	}
	for i, c := range d.Checks {
		for _, err := range flatten(c.Validate()) {
			bad("check[%d]: %w", i, err)
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of one check, each naming its field.
func (c CheckDef) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !node.ValidTagKey(c.ID) {
		bad("id %q must be 1-64 letters, digits, '_', '.' or '-'", c.ID)
	} else if strings.HasPrefix(c.ID, "_") {
		bad("id %q: IDs starting with '_' are reserved (%s is maintenance)", c.ID, node.MaintenanceCheckID)
	}
	if len(c.Name) > maxCheckNameLen || strings.ContainsFunc(c.Name, isControl) {
		bad("name must be at most %d bytes without control characters", maxCheckNameLen)
	}
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"http", c.HTTP != ""}, {"tcp", c.TCP != ""}, {"args", len(c.Args) > 0}, {"ttl", c.TTL != 0}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch len(kinds) {
	case 0:
		bad("no kind: set one of http, tcp, args or ttl")
	case 1:
	default:
		bad("%s are set: a check has exactly one of http, tcp, args or ttl", strings.Join(kinds, " and "))
	}
	errs = append(errs, c.kindErrors()...)
	errs = append(errs, c.timingErrors()...)
	return errors.Join(errs...)
}

// kindErrors checks the target of the check's kind.
func (c CheckDef) kindErrors() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.HTTP != "" {
		if u, err := url.Parse(c.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("http %q is not an http:// or https:// URL with a host", c.HTTP)
		}
	} else if c.Method != "" || len(c.Header) > 0 {
		bad("method and header are options of an http check")
	}
	if c.Method != "" && !isToken(c.Method) {
		bad("method %q is not an HTTP method", c.Method)
	}
	for k, vs := range c.Header {
		if !isToken(k) {
			bad("header %q is not a header name", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				bad("header %q has a value with a line break", k)
			}
		}
	}
	if c.TCP != "" {
		host, port, err := net.SplitHostPort(c.TCP)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			bad("tcp %q is not HOST:PORT with a port from 1 to 65535", c.TCP)
		}
	}
	if len(c.Args) > 0 && c.Args[0] == "" {
		bad("args[0], the program, is empty")
	}
	return errs
}

// timingErrors checks interval, timeout, ttl, the counts and the initial
// status.
func (c CheckDef) timingErrors() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TTL != 0 {
		if err := checkTTLRange.check(c.TTL); err != nil {
			bad("ttl = %s: %w", fmtDuration(c.TTL), err)
		}
		if c.Interval != 0 || c.Timeout != 0 {
			bad("interval and timeout have no meaning for a ttl check: it is updated by `shoal check` or the API")
		}
	} else {
		if err := checkIntervalRange.check(c.Interval); err != nil {
			bad("interval = %s: %w", fmtDuration(c.Interval), err)
		}
		if c.Timeout != 0 {
			if err := checkTimeoutRange.check(c.Timeout); err != nil {
				bad("timeout = %s: %w", fmtDuration(c.Timeout), err)
			}
		}
	}
	if err := checkCountRange.check(c.SuccessBeforePassing); err != nil {
		bad("success_before_passing = %d: %w", c.SuccessBeforePassing, err)
	}
	if err := checkCountRange.check(c.FailuresBeforeCritical); err != nil {
		bad("failures_before_critical = %d: %w", c.FailuresBeforeCritical, err)
	}
	if c.InitialSet && c.Initial > node.HealthCritical {
		bad("initial_status %q is not passing, warning or critical", c.Initial)
	}
	return errs
}

// ParseInitialStatus parses initial_status: passing, warning or critical.
func ParseInitialStatus(s string) (node.Health, error) {
	h, ok := node.ParseHealth(s)
	if !ok || h > node.HealthCritical {
		return 0, fmt.Errorf("%q is not passing, warning or critical", s)
	}
	return h, nil
}

// CheckIDs reports instance IDs and check IDs that are used twice among
// services and node checks (a check ID is unique on its member).
func CheckIDs(services []ServiceDef, nodeChecks []CheckDef) []error {
	var errs []error
	ids := map[string]bool{}
	checkIDs := map[string]string{} // id -> where
	addCheck := func(id, where string) {
		if prev, ok := checkIDs[id]; ok {
			errs = append(errs, fmt.Errorf("check id %q is used by %s and by %s", id, prev, where))
			return
		}
		checkIDs[id] = where
	}
	for _, s := range services {
		if ids[s.ID] {
			errs = append(errs, fmt.Errorf("service id %q is declared twice: give each instance its own id", s.ID))
		}
		ids[s.ID] = true
		for _, c := range s.Checks {
			addCheck(c.ID, fmt.Sprintf("service %q", s.ID))
		}
	}
	for _, c := range nodeChecks {
		addCheck(c.ID, "a node check")
	}
	return errs
}

// NodeServices converts the definitions into what node gossips today
// (no checks); the agent publishes these until the registry takes over.
func NodeServices(defs []ServiceDef) []node.Service {
	out := make([]node.Service, 0, len(defs))
	for _, d := range defs {
		s := node.Service{ID: d.ID, Name: d.Name, Port: uint16(d.Port), Tags: d.Tags, Weight: d.Weight, Meta: d.Meta}
		if d.Address != "" {
			s.Address = net.ParseIP(d.Address)
		}
		out = append(out, s)
	}
	return out
}

// StateDir is where the agent keeps runtime registrations, maintenance
// and TTL state: data_dir, or under -dev ./dev-data; "" keeps nothing.
func (c Config) StateDir() string {
	if c.DataDir == "" && c.Dev {
		return DefaultDevDestDir
	}
	return c.DataDir
}

// isToken reports whether s is an RFC 9110 token (method, header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// clone deep-copies the definition's slices and maps.
func (d ServiceDef) clone() ServiceDef {
	d.Tags = append([]string(nil), d.Tags...)
	d.Meta = cloneMap(d.Meta)
	d.Checks = cloneChecks(d.Checks)
	return d
}

func cloneChecks(cs []CheckDef) []CheckDef {
	if cs == nil {
		return nil
	}
	out := make([]CheckDef, len(cs))
	for i, c := range cs {
		c.Args = append([]string(nil), c.Args...)
		if c.Header != nil {
			h := make(map[string][]string, len(c.Header))
			for k, v := range c.Header {
				h[k] = append([]string(nil), v...)
			}
			c.Header = h
		}
		out[i] = c
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
