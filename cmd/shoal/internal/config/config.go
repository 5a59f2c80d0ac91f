// Package config holds the agent's configuration: defaults, the HCL/JSON file
// schema, command-line flags, and validation. Load puts them together in one
// order: DefaultConfig, then each config file as given on the command line,
// then the flags, then one Validate that reports every problem at once.
package config

import (
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/render"
)

// Defaults of the agent interface (DESIGN.md).
const (
	DefaultBindAddr   = "0.0.0.0"
	DefaultBindPort   = 7946
	DefaultHTTPAddr   = "127.0.0.1:7373"
	DefaultDNSAddr    = "127.0.0.1:8600"
	DefaultDomain     = "shoal."
	DefaultProfile    = "lan"
	DefaultDevDestDir = "dev-data"
	// DevKeyringFile is -dev's gossip keyring, made on the first -dev
	// start and reused after.
	DevKeyringFile = DefaultDevDestDir + "/keyring.json"
	// TokenEnv carries the HTTP API token for the agent and the client verbs.
	TokenEnv = "SHOAL_HTTP_TOKEN"
	// HTTPAddrEnv tells client verbs where the agent's API is.
	HTTPAddrEnv = "SHOAL_HTTP_ADDR"
)

// Config is the agent's validated configuration.
type Config struct {
	NodeName      string
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	AdvertisePort int

	// Interface names the network interface to bind to (-iface), as
	// Serf's: it picks the bind address, or checks it.
	Interface string

	Join      []string
	RetryJoin []string
	// ReplayOnJoin replays past user events on joins the agent makes
	// itself (-join, -retry-join, -discover), as Serf's -replay.
	ReplayOnJoin bool
	// Discover finds and joins agents of the named cluster on the local
	// network with mDNS, as Serf's -discover.
	Discover      string
	MDNS          MDNS
	RetryInterval time.Duration
	// RetryMax bounds retry-join attempts; 0 retries until it succeeds.
	RetryMax int

	Tags map[string]string
	// Services is what node gossips of ServiceDefs (NodeServices), kept
	// for the agent until its registry publishes services and health.
	Services []node.Service
	// ServiceDefs are the service blocks and -service flags; NodeChecks
	// the top-level check blocks (services.go).
	ServiceDefs []ServiceDef
	NodeChecks  []CheckDef
	// DataDir keeps runtime registrations, maintenance and TTL state
	// across restarts; see StateDir for -dev's default.
	DataDir string
	// TagsFile persists the node's tags: loaded at start, rewritten on
	// every change through the API (Serf's -tags-file).
	TagsFile string

	HTTPAddr  string
	HTTPToken string
	DNSAddr   string
	Domain    string
	// AltDomain is a second DNS domain answered like Domain ("" for none).
	AltDomain string
	DNS       DNS
	// HTTP is the API's Host rule and connection caps (http.go).
	HTTP HTTP

	EncryptKey  string
	KeyringFile string
	// InsecureGossip lets an agent with templates run without a gossip
	// key: the operator accepts that anyone who reaches the gossip port
	// can change what the load balancer serves.
	InsecureGossip bool
	Label          string

	SnapshotPath     string
	RejoinAfterLeave bool
	LeaveOnTerminate bool
	// DisableCoordinates turns off network coordinates (rtt, near_sort).
	DisableCoordinates bool
	// SkipLeaveOnInterrupt makes SIGINT exit without leaving, as SIGTERM
	// does by default (Serf's skip_leave_on_interrupt).
	SkipLeaveOnInterrupt bool

	EventHandlers  []string
	HandlerTimeout time.Duration
	// HandlerQueue is how many events may wait for each handler script
	// before newer ones are dropped.
	HandlerQueue int
	// MemberQuiescentPeriod and MemberCoalescePeriod batch member events
	// for handler scripts as Serf's agent does: a batch ends after the
	// quiescent period without a member event, or the coalesce period
	// after its first. 0 in either runs scripts for each event alone.
	MemberQuiescentPeriod time.Duration
	MemberCoalescePeriod  time.Duration
	// UserQuiescentPeriod and UserCoalescePeriod hold user events sent
	// with coalesce (the default of `shoal event`), as Serf's agent does:
	// the newest of a name goes after the quiescent period without a newer
	// one, or the coalesce period after the first. 0 in either: at once.
	UserQuiescentPeriod time.Duration
	UserCoalescePeriod  time.Duration

	Profile   string
	LogLevel  slog.Level
	LogFormat string // "text" or "json"
	// EnableSyslog also sends logs to the local syslog, with
	// SyslogFacility (not on Windows).
	EnableSyslog   bool
	SyslogFacility string

	Templates []Template
	Gossip    Gossip

	// Size limits of queries, query responses and user events (name plus
	// payload), in bytes; 0 keeps node's defaults (1024, 1024, 512).
	QuerySizeLimit, QueryResponseSizeLimit, UserEventSizeLimit int

	Dev bool
}

// Template is one `template { ... }` block, checked here and run by render.
type Template struct {
	// Name identifies the template in status, metrics, `shoal event reload
	// NAME` and config-hash answers. Default: Destination.
	Name        string
	Source      string // "builtin:haproxy", "builtin:nginx" or a file path
	Destination string
	// Backend selects and configures the load balancer that validates
	// candidates and is reloaded. Templates whose Backend is equal share
	// one load balancer: it is reloaded once per batch for all of them.
	Backend         backends.Config
	WaitMin         time.Duration
	WaitMax         time.Duration
	MinBackends     int
	MaxDropFraction float64
	Backup          bool
	Perms           fs.FileMode // 0: render's default (0644)
	Vars            map[string]string
	// NoReload validates and installs but never reloads: set by -dev,
	// where no load balancer runs. Not settable from a file.
	NoReload bool
	// ServeSuspects is drain_on_suspect = false: suspect members'
	// instances keep their weight instead of draining.
	ServeSuspects bool
}

// RenderConfig is the template as render runs it, with b as its load
// balancer (nil: no validation, no reload).
func (t Template) RenderConfig(b backends.Backend) render.TemplateConfig {
	return render.TemplateConfig{
		Name: t.Name, Source: t.Source, Destination: t.Destination, Backend: b,
		Wait:            render.Wait{Min: t.WaitMin, Max: t.WaitMax},
		MinBackends:     t.MinBackends,
		MaxDropFraction: t.MaxDropFraction,
		Perms:           t.Perms,
		Backup:          t.Backup,
		Vars:            t.Vars,
		NoReload:        t.NoReload,
		ServeSuspects:   t.ServeSuspects,
	}
}

// DefaultWaitMin and DefaultWaitMax are a template's quiescence defaults.
const (
	DefaultWaitMin = 500 * time.Millisecond
	DefaultWaitMax = 5 * time.Second
)

// DNS is the `dns { ... }` block: what the DNS interface answers beyond
// its address and domain. Zero values keep package dns's defaults.
type DNS struct {
	NodeTTL     time.Duration
	ServiceTTL  time.Duration
	ServiceTTLs map[string]time.Duration
	// NegativeTTL is the SOA minimum: how long resolvers cache NXDOMAIN.
	// dns.negative_ttl and Consul's dns.soa.min_ttl both set it.
	NegativeTTL time.Duration
	// SOA timers (dnssoa.go); zero keeps package dns's defaults.
	SOARefresh, SOARetry, SOAExpire time.Duration
	// MaxAnswers caps A/AAAA answers on every transport, UDPAnswerLimit
	// over UDP only; 0 is no cap.
	MaxAnswers     int
	UDPAnswerLimit int
	Recursors      []string
	// NearSort orders answers nearest first by network coordinates.
	NearSort bool
	// OnlyPassing answers passing service instances only, not warning.
	OnlyPassing bool
	// Bounds on what clients can hold (dnslimits.go has the ranges).
	TCPMaxConns         int
	TCPIdleTimeout      time.Duration
	MaxInflightForwards int
	RecursorTimeout     time.Duration
}

// Gossip tunes memberlist and the node's timers beyond the profile. Zero
// values keep the profile's choice; tests shrink intervals here so clusters
// converge in milliseconds.
type Gossip struct {
	ProbeInterval     time.Duration
	ProbeTimeout      time.Duration
	GossipInterval    time.Duration
	PushPullInterval  time.Duration
	SuspicionMult     int
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	TombstoneTimeout  time.Duration
	ReapInterval      time.Duration
	LeaveTimeout      time.Duration
	// DisableCompression turns gossip message compression off.
	DisableCompression bool
	// EventPushRate is how many user events a second the node pushes to a
	// few peers at once besides gossiping them; 0 is gossip alone, as in
	// Serf. Unlike the fields above, 0 is meaningful: DefaultConfig sets it.
	EventPushRate int
}

// DefaultConfig sets every default in one place.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "shoal"
	}
	return Config{
		NodeName:              host,
		BindAddr:              DefaultBindAddr,
		BindPort:              DefaultBindPort,
		RetryInterval:         30 * time.Second,
		Tags:                  map[string]string{},
		HTTPAddr:              DefaultHTTPAddr,
		HTTP:                  DefaultHTTP(),
		DNSAddr:               DefaultDNSAddr,
		Domain:                DefaultDomain,
		HandlerTimeout:        60 * time.Second,
		HandlerQueue:          64,
		MemberQuiescentPeriod: handlers.DefaultMemberQuiescentPeriod,
		MemberCoalescePeriod:  handlers.DefaultMemberCoalescePeriod,
		UserQuiescentPeriod:   node.DefaultConfig().QuiescentPeriod,
		UserCoalescePeriod:    node.DefaultConfig().CoalescePeriod,
		Gossip:                Gossip{EventPushRate: node.DefaultConfig().EventPushRate},
		Profile:               DefaultProfile,
		LogLevel:              slog.LevelInfo,
		LogFormat:             "text",
		SyslogFacility:        DefaultSyslogFacility,
	}
}

// DevTemplate is the template -dev renders: the built-in HAProxy template
// into a folder under the working directory. No haproxy runs in -dev, so
// the file is validated (when haproxy is installed) but nothing reloads.
func DevTemplate() Template {
	return Template{
		Name:        "dev-haproxy",
		Source:      "builtin:haproxy",
		Destination: DefaultDevDestDir + "/haproxy.cfg",
		Backend:     backends.Config{Kind: "haproxy", HAProxy: backends.HAProxyConfig{NoReload: true}},
		WaitMin:     DefaultWaitMin,
		WaitMax:     DefaultWaitMax,
		NoReload:    true,
	}
}

// clone deep-copies the slices and maps so a reload never shares state with
// the configuration in use.
func (c Config) clone() Config {
	out := c
	out.Join = append([]string(nil), c.Join...)
	out.RetryJoin = append([]string(nil), c.RetryJoin...)
	out.EventHandlers = append([]string(nil), c.EventHandlers...)
	out.HTTP.AllowedHosts = slices.Clone(c.HTTP.AllowedHosts)
	out.Templates = make([]Template, len(c.Templates))
	for i, t := range c.Templates {
		out.Templates[i] = t.clone()
	}
	out.DNS.Recursors = append([]string(nil), c.DNS.Recursors...)
	if c.DNS.ServiceTTLs != nil {
		out.DNS.ServiceTTLs = make(map[string]time.Duration, len(c.DNS.ServiceTTLs))
		for k, v := range c.DNS.ServiceTTLs {
			out.DNS.ServiceTTLs[k] = v
		}
	}
	out.Tags = make(map[string]string, len(c.Tags))
	for k, v := range c.Tags {
		out.Tags[k] = v
	}
	out.Services = make([]node.Service, len(c.Services))
	for i, s := range c.Services {
		s.Tags = append([]string(nil), s.Tags...)
		out.Services[i] = s
	}
	out.ServiceDefs = make([]ServiceDef, len(c.ServiceDefs))
	for i, d := range c.ServiceDefs {
		out.ServiceDefs[i] = d.clone()
	}
	out.NodeChecks = cloneChecks(c.NodeChecks)
	return out
}

// BindString is the gossip bind address as ADDR:PORT.
func (c Config) BindString() string {
	return net.JoinHostPort(c.BindAddr, strconv.Itoa(c.BindPort))
}

// clone deep-copies the template's maps and argv slices.
func (t Template) clone() Template {
	t.Vars = maps.Clone(t.Vars)
	t.Backend.HAProxy.ReloadCommand = slices.Clone(t.Backend.HAProxy.ReloadCommand)
	t.Backend.Command.Check = slices.Clone(t.Backend.Command.Check)
	t.Backend.Command.Reload = slices.Clone(t.Backend.Command.Reload)
	return t
}
