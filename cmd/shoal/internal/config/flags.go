package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/handlers"
	"github.com/shoal-dev/shoal/node"
)

// ErrUsage marks command-line mistakes, which exit with status 2.
var ErrUsage = errors.New("usage error")

// Flags is the agent's parsed command line. It is kept for the agent's
// lifetime so SIGHUP can re-read the same files and lay the same flags over
// them.
type Flags struct {
	sources []source
	set     map[string]bool

	dev, insecureGossip                 bool
	node, bind, advertise               string
	httpAddr, httpToken, dnsAddr        string
	domain, altDomain, encrypt          string
	keyringFile                         string
	snapshot, profile, logLevel         string
	dataDir                             string
	join, retryJoin, tagArgs, handlers_ list
	services                            []node.Service
	serf                                serfFlags
}

type source struct {
	path  string
	isDir bool
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// checked is a repeatable flag whose values are validated as they are parsed
// so a bad value is a usage error naming the flag.
type checked struct {
	dst   *list
	check func(string) error
}

func (c checked) String() string {
	if c.dst == nil {
		return ""
	}
	return c.dst.String()
}
func (c checked) Set(s string) error {
	if err := c.check(s); err != nil {
		return err
	}
	return c.dst.Set(s)
}

// value is a scalar flag checked as it is parsed.
type value struct {
	dst   *string
	check func(string) error
}

func (v value) String() string {
	if v.dst == nil {
		return ""
	}
	return *v.dst
}
func (v value) Set(s string) error {
	if err := v.check(s); err != nil {
		return err
	}
	*v.dst = s
	return nil
}

type sourceFlag struct {
	f     *Flags
	isDir bool
}

func (s sourceFlag) String() string { return "" }
func (s sourceFlag) Set(v string) error {
	s.f.sources = append(s.f.sources, source{path: v, isDir: s.isDir})
	return nil
}

type serviceFlag struct{ f *Flags }

func (s serviceFlag) String() string { return "" }
func (s serviceFlag) Set(v string) error {
	svc, err := ParseService(v)
	if err != nil {
		return err
	}
	s.f.services = append(s.f.services, svc)
	return nil
}

func ignore2[A, B any](_ A, _ B, err error) error { return err }

// checkEncrypt accepts a key, or "" for none.
func checkEncrypt(s string) error {
	if s == "" {
		return nil
	}
	_, err := DecodeKey(s)
	return err
}

// ParseFlags parses the agent's command line. Errors wrap ErrUsage. -h
// prints the usage to out; a mistake prints one line naming it and a hint
// to -h, not the 50 lines of usage that would bury it.
func ParseFlags(args []string, out io.Writer) (*Flags, error) {
	f := &Flags{set: map[string]bool{}}
	fs := flag.NewFlagSet("shoal agent", flag.ContinueOnError)
	// flag prints a parse error and then calls Usage; the error is printed
	// here instead, so flag's own output is discarded.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(sourceFlag{f, false}, "config-file", "read config from this .hcl or .json `file` (repeatable)")
	fs.Var(sourceFlag{f, true}, "config-dir", "read every *.hcl and *.json in this `dir`, in lexical order")
	fs.BoolVar(&f.dev, "dev", false, "development mode: one node on the defaults (gossip on 127.0.0.1), rendering the built-in HAProxy template into ./"+DefaultDevDestDir)
	fs.StringVar(&f.node, "node", "", "node `name`, unique in the cluster (default: hostname)")
	fs.Var(value{&f.bind, func(s string) error { return ignore2(ParseHostOrIPPort(s, DefaultBindPort)) }}, "bind", "gossip `ADDR:PORT` (default 0.0.0.0:7946); ADDR may be a host name, resolved at start")
	fs.Var(value{&f.advertise, func(s string) error { return ignore2(ParseHostOrIPPort(s, 0)) }}, "advertise", "`ADDR:PORT` other members reach this node at; ADDR may be a host name, resolved at start")
	fs.Var(&f.join, "join", "join the member at `ADDR:PORT` at start (repeatable)")
	fs.Var(&f.retryJoin, "retry-join", "join `ADDR:PORT`, retrying until it succeeds (repeatable)")
	fs.Var(checked{&f.tagArgs, func(s string) error { return ignore2(ParseTag(s)) }}, "tag", "tag `KEY=VALUE` (repeatable)")
	fs.Var(serviceFlag{f}, "service", "service `NAME:PORT[:TAG,TAG...]` (repeatable)")
	fs.Var(value{&f.httpAddr, checkListenAddr}, "http-addr", "HTTP API `ADDR:PORT` (default "+DefaultHTTPAddr+")")
	fs.Var(value{&f.dnsAddr, checkListenAddr}, "dns-addr", "DNS `ADDR:PORT` (default "+DefaultDNSAddr+")")
	fs.StringVar(&f.domain, "domain", "", "DNS `domain` (default "+DefaultDomain+")")
	fs.StringVar(&f.altDomain, "alt-domain", "", "a second DNS `domain` answered like -domain")
	fs.Var(value{&f.encrypt, checkEncrypt}, "encrypt", "gossip encryption `key`, base64 (see shoal keygen); \"\" for none")
	fs.StringVar(&f.keyringFile, "keyring-file", "", "gossip keyring `file` (a JSON list of base64 keys, primary first), loaded at start and kept up to date")
	fs.BoolVar(&f.insecureGossip, "insecure-gossip", false, "let an agent with templates run without a gossip key (anyone on the network can then change what it renders)")
	fs.StringVar(&f.dataDir, "data-dir", "", "`dir` keeping runtime service registrations, maintenance and TTL state across restarts (-dev: ./"+DefaultDevDestDir+")")
	fs.StringVar(&f.snapshot, "snapshot", "", "snapshot `path`, to rejoin the cluster after a restart")
	fs.Var(checked{&f.handlers_, func(s string) error { _, err := handlers.ParseScript(s); return err }}, "event-handler", "run `[FILTER=]SCRIPT` on events (repeatable)")
	fs.Var(value{&f.profile, func(s string) error { _, err := ParseProfile(s); return err }}, "profile", "gossip timings: lan, wan or local (default lan)")
	fs.Var(value{&f.logLevel, func(s string) error { _, err := ParseLevel(s); return err }}, "log-level", "log `level`: debug, info, warn, error (default info)")
	fs.StringVar(&f.httpToken, "http-token", "", "require this `token` on HTTP API requests (or "+TokenEnv+")")
	f.serf.define(fs)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(out)
		fmt.Fprintln(out, "Usage: shoal agent [options]\n\nRuns a shoal agent until interrupted. Options:")
		fs.PrintDefaults()
		return nil, err
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: the agent takes flags only", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(out, "shoal agent: %v (run `shoal agent -h` for the options)\n", err)
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// Dev reports whether -dev was given.
func (f *Flags) Dev() bool { return f.dev }

// Load builds the configuration: defaults, files in command-line order,
// SHOAL_HTTP_TOKEN, then flags; then Validate. It is called at start and on
// every SIGHUP.
func (f *Flags) Load() (Config, error) {
	c := DefaultConfig()
	if f.dev {
		// Like Consul's -dev: one machine, so gossip stays on loopback
		// and nothing is exposed by accident.
		c.Dev = true
		c.Profile = "local"
		c.BindAddr = "127.0.0.1"
	}
	var errs []error
	for _, s := range f.sources {
		files := []string{s.path}
		if s.isDir {
			var err error
			if files, err = DirFiles(s.path); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		for _, p := range files {
			if err := applyFile(&c, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if tok := os.Getenv(TokenEnv); tok != "" {
		c.HTTPToken = tok
	}
	f.apply(&c)
	c.Services = NodeServices(c.ServiceDefs)
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if c.Dev && len(c.Templates) == 0 {
		c.Templates = []Template{DevTemplate()}
	}
	if c.Dev && c.EncryptKey == "" && c.KeyringFile == "" {
		// -dev gossips with a key like any agent that renders: one kept
		// in the dev folder, made on the first start (agent.New).
		c.KeyringFile = DevKeyringFile
	}
	return c.clone(), nil
}

// apply lays the flags that were given over c. Values were checked by Parse.
func (f *Flags) apply(c *Config) {
	if f.set["node"] {
		c.NodeName = f.node
	}
	if f.set["bind"] {
		c.BindAddr, c.BindPort, _ = ParseHostOrIPPort(f.bind, DefaultBindPort)
	}
	if f.set["advertise"] {
		c.AdvertiseAddr, c.AdvertisePort, _ = ParseHostOrIPPort(f.advertise, 0)
	}
	c.Join = append(c.Join, f.join...)
	c.RetryJoin = append(c.RetryJoin, f.retryJoin...)
	for _, t := range f.tagArgs {
		k, v, _ := ParseTag(t)
		c.Tags[k] = v
	}
	for _, s := range f.services {
		c.ServiceDefs = append(c.ServiceDefs, ServiceDef{ID: s.Name, Name: s.Name, Port: int(s.Port), Tags: s.Tags, Weight: s.Weight})
	}
	strs := map[string]*string{
		"http-addr": &c.HTTPAddr, "dns-addr": &c.DNSAddr, "domain": &c.Domain, "alt-domain": &c.AltDomain,
		"encrypt": &c.EncryptKey, "keyring-file": &c.KeyringFile,
		"snapshot": &c.SnapshotPath, "profile": &c.Profile, "http-token": &c.HTTPToken,
		"data-dir": &c.DataDir,
	}
	vals := map[string]string{
		"http-addr": f.httpAddr, "dns-addr": f.dnsAddr, "domain": f.domain, "alt-domain": f.altDomain,
		"encrypt": f.encrypt, "keyring-file": f.keyringFile,
		"snapshot": f.snapshot, "profile": f.profile, "http-token": f.httpToken,
		"data-dir": f.dataDir,
	}
	for name, dst := range strs {
		if f.set[name] {
			*dst = vals[name]
		}
	}
	if f.set["insecure-gossip"] {
		c.InsecureGossip = f.insecureGossip
	}
	if f.set["log-level"] {
		c.LogLevel, _ = ParseLevel(f.logLevel)
	}
	c.EventHandlers = append(c.EventHandlers, f.handlers_...)
	f.serf.apply(c, f.set)
}
