package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
	"github.com/shoal-dev/shoal/render"
)

// fileConfig is the schema of a config file, the same for HCL and JSON.
// Pointers tell "absent" from "zero" so a later file only overrides what it
// sets. There is no catch-all field: hcl reports every unknown key.
type fileConfig struct {
	NodeName      *string           `hcl:"node_name,optional"`
	Bind          *string           `hcl:"bind,optional"`
	Advertise     *string           `hcl:"advertise,optional"`
	Join          []string          `hcl:"join,optional"`
	RetryJoin     []string          `hcl:"retry_join,optional"`
	RetryInterval *string           `hcl:"retry_interval,optional"`
	RetryMax      *int              `hcl:"retry_max,optional"`
	Tags          map[string]string `hcl:"tags,optional"`

	HTTPAddr  *string `hcl:"http_addr,optional"`
	HTTPToken *string `hcl:"http_token,optional"`
	DNSAddr   *string `hcl:"dns_addr,optional"`
	Domain    *string `hcl:"domain,optional"`
	AltDomain *string `hcl:"alt_domain,optional"`

	// http.go
	HTTPAllowedHosts      []string `hcl:"http_allowed_hosts,optional"`
	HTTPMaxConns          *int     `hcl:"http_max_conns,optional"`
	HTTPMaxConnsPerClient *int     `hcl:"http_max_conns_per_client,optional"`

	Encrypt        *string `hcl:"encrypt,optional"`
	KeyringFile    *string `hcl:"keyring_file,optional"`
	InsecureGossip *bool   `hcl:"insecure_gossip,optional"`
	Label          *string `hcl:"label,optional"`

	Snapshot         *string `hcl:"snapshot_path,optional"`
	RejoinAfterLeave *bool   `hcl:"rejoin_after_leave,optional"`
	LeaveOnTerminate *bool   `hcl:"leave_on_terminate,optional"`

	DisableCoordinates *bool `hcl:"disable_coordinates,optional"`

	EventHandlers         []string `hcl:"event_handlers,optional"`
	HandlerTimeout        *string  `hcl:"handler_timeout,optional"`
	HandlerQueue          *int     `hcl:"handler_queue,optional"`
	MemberQuiescentPeriod *string  `hcl:"member_quiescent_period,optional"`
	MemberCoalescePeriod  *string  `hcl:"member_coalesce_period,optional"`
	UserQuiescentPeriod   *string  `hcl:"user_quiescent_period,optional"`
	UserCoalescePeriod    *string  `hcl:"user_coalesce_period,optional"`

	// Serf's agent options (serf.go).
	Interface            *string   `hcl:"interface,optional"`
	ReplayOnJoin         *bool     `hcl:"replay_on_join,optional"`
	Discover             *string   `hcl:"discover,optional"`
	MDNS                 *fileMDNS `hcl:"mdns,block"`
	TagsFile             *string   `hcl:"tags_file,optional"`
	SkipLeaveOnInterrupt *bool     `hcl:"skip_leave_on_interrupt,optional"`
	EnableSyslog         *bool     `hcl:"enable_syslog,optional"`
	SyslogFacility       *string   `hcl:"syslog_facility,optional"`

	QuerySizeLimit         *int `hcl:"query_size_limit,optional"`
	QueryResponseSizeLimit *int `hcl:"query_response_size_limit,optional"`
	UserEventSizeLimit     *int `hcl:"user_event_size_limit,optional"`

	Profile   *string `hcl:"profile,optional"`
	LogLevel  *string `hcl:"log_level,optional"`
	LogFormat *string `hcl:"log_format,optional"`

	// Services and node-level checks (servicesfile.go).
	Services   []fileService `hcl:"service,block"`
	NodeChecks []fileCheck   `hcl:"check,block"`
	DataDir    *string       `hcl:"data_dir,optional"`

	Templates []fileTemplate `hcl:"template,block"`
	Gossip    *fileGossip    `hcl:"gossip,block"`
	DNS       *fileDNS       `hcl:"dns,block"`
}

type fileMDNS struct {
	Interface   *string `hcl:"interface,optional"`
	DisableIPv4 *bool   `hcl:"disable_ipv4,optional"`
	DisableIPv6 *bool   `hcl:"disable_ipv6,optional"`
}

type fileDNS struct {
	NodeTTL     *string           `hcl:"node_ttl,optional"`
	ServiceTTL  *string           `hcl:"service_ttl,optional"`
	ServiceTTLs map[string]string `hcl:"service_ttls,optional"`
	NegativeTTL *string           `hcl:"negative_ttl,optional"`
	MaxAnswers  *int              `hcl:"max_answers,optional"`
	Recursors   []string          `hcl:"recursors,optional"`
	SOA         *fileSOA          `hcl:"soa,block"`

	UDPAnswerLimit *int `hcl:"udp_answer_limit,optional"`

	TCPMaxConns         *int    `hcl:"tcp_max_conns,optional"`
	TCPIdleTimeout      *string `hcl:"tcp_idle_timeout,optional"`
	MaxInflightForwards *int    `hcl:"max_inflight_forwards,optional"`
	RecursorTimeout     *string `hcl:"recursor_timeout,optional"`

	NearSort    *bool `hcl:"near_sort,optional"`
	OnlyPassing *bool `hcl:"only_passing,optional"`
}

// fileTemplate is a template block. The load balancer's options sit in the
// block itself (master_socket, pid_file, check, ...); backends.Config
// reports options that do not belong to the selected backend.
type fileTemplate struct {
	Name            *string           `hcl:"name,optional"`
	Source          string            `hcl:"source"`
	Destination     string            `hcl:"destination"`
	Backend         *string           `hcl:"backend,optional"`
	Wait            *fileWait         `hcl:"wait,block"`
	MinBackends     *int              `hcl:"min_backends,optional"`
	MaxDropFraction *float64          `hcl:"max_drop_fraction,optional"`
	Backup          *bool             `hcl:"backup,optional"`
	Perms           *string           `hcl:"perms,optional"`
	Vars            map[string]string `hcl:"vars,optional"`
	DrainOnSuspect  *bool             `hcl:"drain_on_suspect,optional"`

	// Every backend.
	Binary  *string `hcl:"binary,optional"`
	Timeout *string `hcl:"timeout,optional"`
	// haproxy
	MasterSocket      *string  `hcl:"master_socket,optional"`
	ReloadCommand     []string `hcl:"reload_command,optional"`
	StatsSocket       *string  `hcl:"stats_socket,optional"`
	NoRuntime         *bool    `hcl:"no_runtime,optional"`
	DrainTimeout      *string  `hcl:"drain_timeout,optional"`
	ReconcileInterval *string  `hcl:"reconcile_interval,optional"`
	// nginx
	Prefix   *string `hcl:"prefix,optional"`
	PidFile  *string `hcl:"pid_file,optional"`
	ErrorLog *string `hcl:"error_log,optional"`
	// command
	Check  []string `hcl:"check,optional"`
	Reload []string `hcl:"reload,optional"`
}

type fileWait struct {
	Min *string `hcl:"min,optional"`
	Max *string `hcl:"max,optional"`
}

type fileGossip struct {
	ProbeInterval     *string `hcl:"probe_interval,optional"`
	ProbeTimeout      *string `hcl:"probe_timeout,optional"`
	GossipInterval    *string `hcl:"gossip_interval,optional"`
	PushPullInterval  *string `hcl:"push_pull_interval,optional"`
	SuspicionMult     *int    `hcl:"suspicion_mult,optional"`
	ReconnectInterval *string `hcl:"reconnect_interval,optional"`
	ReconnectTimeout  *string `hcl:"reconnect_timeout,optional"`
	TombstoneTimeout  *string `hcl:"tombstone_timeout,optional"`
	ReapInterval      *string `hcl:"reap_interval,optional"`
	LeaveTimeout      *string `hcl:"leave_timeout,optional"`
	// Serf's disable_compression.
	DisableCompression *bool `hcl:"disable_compression,optional"`
	EventPushRate      *int  `hcl:"event_push_rate,optional"`
}

// DirFiles lists the *.hcl and *.json files of dir in lexical order.
func DirFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config dir: %w", err)
	}
	var out []string
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if e.Type().IsRegular() && (ext == ".hcl" || ext == ".json") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// applyFile decodes one file and lays it over c. Every problem comes back,
// each naming the file and the key.
func applyFile(c *Config, path string) error {
	switch filepath.Ext(path) {
	case ".hcl", ".json":
	default:
		return fmt.Errorf("%s: config files must end in .hcl or .json", path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var fc fileConfig
	if diags := decodeFile(path, src, &fc); diags.HasErrors() {
		return diagErrors(diags)
	}
	a := applier{file: path}
	a.apply(c, &fc)
	return errors.Join(a.errs...)
}

// diagErrors turns hcl's error diagnostics into one error per problem,
// each of which starts with file:line.
func diagErrors(diags hcl.Diagnostics) error {
	var errs []error
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("%s:%d: %s", d.Subject.Filename, d.Subject.Start.Line, msg)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

type applier struct {
	file string
	errs []error
}

func (a *applier) fail(key string, err error) {
	a.errs = append(a.errs, fmt.Errorf("%s: %s: %w", a.file, key, err))
}

// outOfRange reports a value outside its key's range in the form
// "agent.hcl: retry_interval = 0s: must be between 100ms and 24h".
func (a *applier) outOfRange(key, value string, err error) {
	a.errs = append(a.errs, fmt.Errorf("%s: %s = %s: %w", a.file, key, value, err))
}

// duration sets *dst from s when s is set, parses and is within r.
func (a *applier) duration(key string, s *string, dst *time.Duration, r durRange) {
	if s == nil {
		return
	}
	d, err := parseDuration(*s)
	if err != nil {
		a.fail(key, err)
		return
	}
	if err := r.check(d); err != nil {
		a.outOfRange(key, *s, err)
		return
	}
	*dst = d
}

// count sets *dst from v when v is set and within r.
func (a *applier) count(key string, v *int, dst *int, r intRange) {
	if v == nil {
		return
	}
	if err := r.check(*v); err != nil {
		a.outOfRange(key, fmt.Sprint(*v), err)
		return
	}
	*dst = *v
}

func setStr(dst *string, s *string) {
	if s != nil {
		*dst = *s
	}
}

func (a *applier) apply(c *Config, fc *fileConfig) {
	setStr(&c.NodeName, fc.NodeName)
	a.addresses(c, fc)
	for k, v := range fc.Tags {
		c.Tags[k] = v
	}
	a.services(c, fc)
	setStr(&c.DataDir, fc.DataDir)
	setStr(&c.HTTPToken, fc.HTTPToken)
	a.applyHTTP(c, fc)
	setStr(&c.Domain, fc.Domain)
	setStr(&c.AltDomain, fc.AltDomain)
	a.gossipKey(c, fc)
	setStr(&c.Label, fc.Label)
	setStr(&c.SnapshotPath, fc.Snapshot)
	setBool(&c.RejoinAfterLeave, fc.RejoinAfterLeave)
	setBool(&c.LeaveOnTerminate, fc.LeaveOnTerminate)
	setBool(&c.DisableCoordinates, fc.DisableCoordinates)
	a.eventHandlers(c, fc)
	a.profileAndLogs(c, fc)
	a.sizeLimits(c, fc)
	applySerfOptions(c, fc)
	for i, t := range fc.Templates {
		a.template(c, i, t)
	}
	if d := fc.DNS; d != nil {
		a.dns(c, d)
	}
	if g := fc.Gossip; g != nil {
		a.gossip(&c.Gossip, g)
	}
}

// addresses applies where the agent binds, advertises, joins and listens.
func (a *applier) addresses(c *Config, fc *fileConfig) {
	if fc.Bind != nil {
		if h, p, err := ParseHostOrIPPort(*fc.Bind, DefaultBindPort); err != nil {
			a.fail("bind", err)
		} else {
			c.BindAddr, c.BindPort = h, p
		}
	}
	if fc.Advertise != nil {
		if h, p, err := ParseHostOrIPPort(*fc.Advertise, 0); err != nil {
			a.fail("advertise", err)
		} else {
			c.AdvertiseAddr, c.AdvertisePort = h, p
		}
	}
	c.Join = append(c.Join, fc.Join...)
	c.RetryJoin = append(c.RetryJoin, fc.RetryJoin...)
	a.duration("retry_interval", fc.RetryInterval, &c.RetryInterval, retryIntervalRange)
	a.count("retry_max", fc.RetryMax, &c.RetryMax, retryMaxRange)
	for key, pair := range map[string]struct{ dst, src *string }{
		"http_addr": {&c.HTTPAddr, fc.HTTPAddr},
		"dns_addr":  {&c.DNSAddr, fc.DNSAddr},
	} {
		if pair.src == nil {
			continue
		}
		if err := checkListenAddr(*pair.src); err != nil {
			a.fail(key, err)
			continue
		}
		*pair.dst = *pair.src
	}
}

// gossipKey applies encrypt, keyring_file and insecure_gossip.
func (a *applier) gossipKey(c *Config, fc *fileConfig) {
	// encrypt = "" is the documented "no key", so a later file or the
	// README's full example can switch a key off.
	if fc.Encrypt != nil && *fc.Encrypt != "" {
		if _, err := DecodeKey(*fc.Encrypt); err != nil {
			a.fail("encrypt", err)
		} else {
			c.EncryptKey = *fc.Encrypt
		}
	} else if fc.Encrypt != nil {
		c.EncryptKey = ""
	}
	setStr(&c.KeyringFile, fc.KeyringFile)
	setBool(&c.InsecureGossip, fc.InsecureGossip)
}

// eventHandlers applies the event handlers and how their events are batched.
func (a *applier) eventHandlers(c *Config, fc *fileConfig) {
	for i, h := range fc.EventHandlers {
		if _, err := handlers.ParseScript(h); err != nil {
			a.fail(fmt.Sprintf("event_handlers[%d]", i), err)
			continue
		}
		c.EventHandlers = append(c.EventHandlers, h)
	}
	a.duration("handler_timeout", fc.HandlerTimeout, &c.HandlerTimeout, handlerTimeoutRange)
	a.count("handler_queue", fc.HandlerQueue, &c.HandlerQueue, handlerQueueRange)
	a.duration("member_quiescent_period", fc.MemberQuiescentPeriod, &c.MemberQuiescentPeriod, batchPeriodRange)
	a.duration("member_coalesce_period", fc.MemberCoalescePeriod, &c.MemberCoalescePeriod, batchPeriodRange)
	a.duration("user_quiescent_period", fc.UserQuiescentPeriod, &c.UserQuiescentPeriod, batchPeriodRange)
	a.duration("user_coalesce_period", fc.UserCoalescePeriod, &c.UserCoalescePeriod, batchPeriodRange)
}

// profileAndLogs applies profile, log_level and log_format.
func (a *applier) profileAndLogs(c *Config, fc *fileConfig) {
	if fc.Profile != nil {
		if p, err := ParseProfile(*fc.Profile); err != nil {
			a.fail("profile", err)
		} else {
			c.Profile = p
		}
	}
	if fc.LogLevel != nil {
		if l, err := ParseLevel(*fc.LogLevel); err != nil {
			a.fail("log_level", err)
		} else {
			c.LogLevel = l
		}
	}
	if fc.LogFormat != nil {
		switch *fc.LogFormat {
		case "text", "json":
			c.LogFormat = *fc.LogFormat
		default:
			a.fail("log_format", fmt.Errorf("%q is not text or json", *fc.LogFormat))
		}
	}
}

func (a *applier) gossip(c *Gossip, g *fileGossip) {
	a.duration("gossip.probe_interval", g.ProbeInterval, &c.ProbeInterval, probeIntervalRange)
	a.duration("gossip.probe_timeout", g.ProbeTimeout, &c.ProbeTimeout, probeTimeoutRange)
	a.duration("gossip.gossip_interval", g.GossipInterval, &c.GossipInterval, gossipIntervalRange)
	a.duration("gossip.push_pull_interval", g.PushPullInterval, &c.PushPullInterval, pushPullIntervalRange)
	a.duration("gossip.reconnect_interval", g.ReconnectInterval, &c.ReconnectInterval, reconnectIntervalRange)
	a.duration("gossip.reconnect_timeout", g.ReconnectTimeout, &c.ReconnectTimeout, reconnectTimeoutRange)
	a.duration("gossip.tombstone_timeout", g.TombstoneTimeout, &c.TombstoneTimeout, tombstoneTimeoutRange)
	a.duration("gossip.reap_interval", g.ReapInterval, &c.ReapInterval, reapIntervalRange)
	a.duration("gossip.leave_timeout", g.LeaveTimeout, &c.LeaveTimeout, leaveTimeoutRange)
	a.count("gossip.suspicion_mult", g.SuspicionMult, &c.SuspicionMult, suspicionMultRange)
	if g.DisableCompression != nil {
		c.DisableCompression = *g.DisableCompression
	}
	a.count("gossip.event_push_rate", g.EventPushRate, &c.EventPushRate, eventPushRateRange)
}

func (a *applier) template(c *Config, i int, ft fileTemplate) {
	key := fmt.Sprintf("template[%d]", i)
	t := Template{Source: ft.Source, Destination: ft.Destination,
		WaitMin: DefaultWaitMin, WaitMax: DefaultWaitMax, Vars: ft.Vars}
	setStr(&t.Name, ft.Name)
	// The built-in nginx template goes with nginx; anything else defaults
	// to haproxy, shoal's first load balancer.
	t.Backend.Kind = "haproxy"
	if ft.Source == "builtin:nginx" {
		t.Backend.Kind = "nginx"
	}
	setStr(&t.Backend.Kind, ft.Backend)
	n := len(a.errs)
	if ft.Wait != nil {
		a.duration(key+": wait.min", ft.Wait.Min, &t.WaitMin, waitMinRange)
		a.duration(key+": wait.max", ft.Wait.Max, &t.WaitMax, waitMaxRange)
	}
	a.count(key+": min_backends", ft.MinBackends, &t.MinBackends, minBackendsRange)
	if ft.MaxDropFraction != nil {
		t.MaxDropFraction = *ft.MaxDropFraction
	}
	if ft.Backup != nil {
		t.Backup = *ft.Backup
	}
	if ft.DrainOnSuspect != nil {
		t.ServeSuspects = !*ft.DrainOnSuspect
	}
	if ft.Perms != nil {
		m, err := strconv.ParseUint(*ft.Perms, 8, 32)
		if err != nil || m == 0 || m > 0o777 {
			a.fail(key+": perms", fmt.Errorf("%q is not an octal file mode such as \"0644\"", *ft.Perms))
		} else {
			t.Perms = fs.FileMode(m)
		}
	}
	var timeout time.Duration
	a.duration(key+": timeout", ft.Timeout, &timeout, templateTimeoutRange)
	a.haproxyRuntime(key, &t.Backend, ft)
	a.backendOptions(key, &t.Backend, ft, timeout)
	// render owns a template's rules and backends its load balancer's.
	for _, err := range flatten(render.CheckTemplate(t.RenderConfig(nil))) {
		a.fail(key, err)
	}
	if len(a.errs) == n {
		c.Templates = append(c.Templates, t)
	}
}

// backendOptions puts each load-balancer option into the block of the
// backend it belongs to, whatever the selected kind, so that
// backends.Config.Validate names an option given to the wrong backend
// ("nginx: options are set but the backend is \"haproxy\""). binary and
// timeout apply to the selected backend.
func (a *applier) backendOptions(key string, b *backends.Config, ft fileTemplate, timeout time.Duration) {
	setStr(&b.HAProxy.MasterSocket, ft.MasterSocket)
	b.HAProxy.ReloadCommand = ft.ReloadCommand
	setStr(&b.Nginx.Prefix, ft.Prefix)
	setStr(&b.Nginx.PidFile, ft.PidFile)
	setStr(&b.Nginx.ErrorLog, ft.ErrorLog)
	b.Command.Check, b.Command.Reload = ft.Check, ft.Reload
	switch b.Kind {
	case "haproxy":
		setStr(&b.HAProxy.Binary, ft.Binary)
		b.HAProxy.Timeout = timeout
	case "nginx":
		setStr(&b.Nginx.Binary, ft.Binary)
		b.Nginx.Timeout = timeout
	case "command":
		if ft.Binary != nil {
			a.fail(key+": binary", errors.New(`the command backend has no binary: its check and reload commands name their programs`))
		}
		b.Command.Timeout = timeout
	}
	for _, err := range flatten(b.Validate()) {
		a.fail(key, err)
	}
}

// haproxyRuntime decodes the options of HAProxy's runtime path into the
// haproxy block, whatever the selected kind, so that backends.Config names
// them when another backend is selected. no_runtime = false would look
// unset there, so a no_runtime given to another backend is named here.
func (a *applier) haproxyRuntime(key string, b *backends.Config, ft fileTemplate) {
	h := &b.HAProxy
	setStr(&h.StatsSocket, ft.StatsSocket)
	a.duration(key+": drain_timeout", ft.DrainTimeout, &h.DrainTimeout, drainTimeoutRange)
	a.duration(key+": reconcile_interval", ft.ReconcileInterval, &h.ReconcileInterval, reconcileIntervalRange)
	if ft.NoRuntime == nil {
		return
	}
	h.NoRuntime = *ft.NoRuntime
	if b.Kind != "haproxy" {
		a.fail(key+": no_runtime", fmt.Errorf("is an haproxy option but the backend is %q", b.Kind))
	}
}

// flatten splits an errors.Join tree into its leaves, so each problem is
// reported on its own line with the file and key in front.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func (a *applier) dns(c *Config, d *fileDNS) {
	a.duration("dns.node_ttl", d.NodeTTL, &c.DNS.NodeTTL, dnsTTLRange)
	a.duration("dns.service_ttl", d.ServiceTTL, &c.DNS.ServiceTTL, dnsTTLRange)
	a.duration("dns.negative_ttl", d.NegativeTTL, &c.DNS.NegativeTTL, dnsTTLRange)
	for name, v := range d.ServiceTTLs {
		var ttl time.Duration
		n := len(a.errs)
		a.duration("dns.service_ttls."+name, &v, &ttl, dnsTTLRange)
		if len(a.errs) > n {
			continue
		}
		if c.DNS.ServiceTTLs == nil {
			c.DNS.ServiceTTLs = map[string]time.Duration{}
		}
		c.DNS.ServiceTTLs[name] = ttl
	}
	a.count("dns.max_answers", d.MaxAnswers, &c.DNS.MaxAnswers, dnsAnswerLimitRange)
	if d.NearSort != nil {
		c.DNS.NearSort = *d.NearSort
	}
	if d.OnlyPassing != nil {
		c.DNS.OnlyPassing = *d.OnlyPassing
	}
	for i, r := range d.Recursors {
		if _, _, err := ParseHostPort(r, 53); err != nil {
			a.fail(fmt.Sprintf("dns.recursors[%d]", i), err)
			continue
		}
		c.DNS.Recursors = append(c.DNS.Recursors, r)
	}
	a.dnsLimits(c, d)
	a.dnsSOA(c, d)
}
