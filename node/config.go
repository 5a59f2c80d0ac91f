package node

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"
)

// Config configures a Node. DefaultConfig sets every field; New validates.
type Config struct {
	// Name must be unique in the cluster. Default: the hostname.
	Name          string
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	AdvertisePort int
	// Tags are user tags, carried in node meta; keys match [A-Za-z0-9_.-]+.
	Tags map[string]string
	// Services and NodeChecks are the initial catalog record (SetCatalog
	// replaces it).
	Services   []Service
	NodeChecks []CheckState
	// CatalogInterval spaces this node's catalog broadcasts: the first
	// change after a quiet interval goes out at once, later ones are
	// coalesced into at most one per interval. It is also the least time
	// between two fetches of one owner's record.
	CatalogInterval time.Duration
	// Profile picks memberlist timings: "lan", "wan" or "local".
	Profile string

	// ReconnectInterval is how often a failed member is retried.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is retried before it is reaped.
	ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a left member is remembered.
	TombstoneTimeout time.Duration
	// ReapInterval is how often failed and left members are checked for reaping.
	ReapInterval time.Duration
	// LeaveTimeout bounds a graceful leave.
	LeaveTimeout time.Duration

	// EventBuffer is how many recent Lamport times of user events are kept
	// for de-duplication; older events are dropped.
	EventBuffer int
	// QueryBuffer is the same for queries.
	QueryBuffer int
	// QueryTimeoutMult scales the default query timeout:
	// GossipInterval * QueryTimeoutMult * ceil(log10(N+1)).
	QueryTimeoutMult int
	// MaxQueryTimeout caps a query's timeout. A query keeps its state
	// until its deadline unless its caller closes it, so an unbounded
	// timeout lets a forgetful caller hold memory for as long as it likes.
	MaxQueryTimeout        time.Duration
	QuerySizeLimit         int
	QueryResponseSizeLimit int
	// UserEventSizeLimit caps len(name)+len(payload) of a user event.
	UserEventSizeLimit int
	// EventOrderWindow bounds how long a user event that overtook its
	// sender's previous event waits for it. Events in order never wait.
	// It should span a few gossip intervals: a burst larger than one
	// packet arrives newest first over several.
	EventOrderWindow time.Duration
	// EventPushRate is how many user events a second this node sends at
	// once to GossipNodes random peers, besides gossiping them, so that
	// they arrive in network round trips rather than gossip ticks; past
	// it, events go by gossip alone (eagerpush.go). 0 turns it off.
	EventPushRate int
	// CoalescePeriod is the longest a coalescing user event is held;
	// QuiescentPeriod is how long without a newer event of the same name
	// releases it early. Only the latest event of each name is delivered.
	// Either 0 delivers coalescing events at once, as Serf does. The
	// defaults are Serf's agent's (3 s and 1 s).
	CoalescePeriod  time.Duration
	QuiescentPeriod time.Duration

	// MaxQueueDepth bounds each broadcast queue (intents, events,
	// queries): past it the most-sent messages are dropped and a warning
	// is logged. MinQueueDepth, when positive, replaces it with twice the
	// members known, but at least MinQueueDepth. QueueDepthWarning is the
	// depth that draws a warning; QueueWarnInterval spaces the warnings.
	// Serf's defaults: 4096, 0, 128 and 30 s.
	MaxQueueDepth     int
	MinQueueDepth     int
	QueueDepthWarning int
	QueueWarnInterval time.Duration

	// SnapshotPath, when set, records members and clocks so a restarted
	// node rejoins without -join and replays no old events.
	SnapshotPath string
	// RejoinAfterLeave lets a node that left gracefully rejoin from its
	// snapshot; by default a leave is final.
	RejoinAfterLeave bool

	// Keys is the gossip keyring; the first key is primary. Empty and no
	// KeyringFile: gossip is not encrypted.
	Keys [][]byte
	// KeyringFile, when set, is loaded at start, replacing Keys, and
	// rewritten whenever the keyring changes. It fails closed: a file that
	// is missing, unreadable, empty or holds no valid key stops New, except
	// that a missing file is created from Keys when Keys are given.
	KeyringFile string
	// Label keeps clusters apart: packets with another label are dropped.
	Label string

	// DisableCoordinates turns off network coordinates: probe acks carry
	// none and RTT estimates are unavailable, as with Serf's option.
	DisableCoordinates bool

	// Tuning shrinks or stretches the profile's gossip timings; its zero
	// value keeps the profile's. Callers outside node tune gossip here,
	// never through memberlist's own config.
	Tuning Tuning

	// MetricLabels are put on every metric memberlist emits through
	// go-metrics, so that a process running several nodes can tell their
	// counters apart (memberlist v0.7 reports only to go-metrics' global).
	MetricLabels map[string]string

	// Memberlist, when non-nil, replaces the profile's memberlist config.
	// It is for node's own tests (a fake transport, tiny intervals); other
	// packages use Profile and Tuning, so that memberlist stays inside
	// node. Name, addresses, keyring, label, metric labels and delegates
	// are always set from the fields above.
	Memberlist *memberlist.Config
}

// Tuning overrides the profile's failure-detector and gossip timings. A
// zero field keeps the profile's value.
type Tuning struct {
	ProbeInterval    time.Duration // how often a random member is probed
	ProbeTimeout     time.Duration // how long a probe waits for an ack
	GossipInterval   time.Duration // how often broadcasts are gossiped
	PushPullInterval time.Duration // how often full state is exchanged
	SuspicionMult    int           // suspicion timeout, in probe intervals
	// DisableCompression turns memberlist's message compression off
	// (Serf's -disable-compression), trading bandwidth for CPU.
	DisableCompression bool
}

// validate reports negative values: zero keeps the profile's.
func (t Tuning) validate() []error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"probe interval": t.ProbeInterval, "probe timeout": t.ProbeTimeout,
		"gossip interval": t.GossipInterval, "push-pull interval": t.PushPullInterval,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("gossip tuning: %s %s: must not be negative", name, d))
		}
	}
	if t.SuspicionMult < 0 {
		errs = append(errs, fmt.Errorf("gossip tuning: suspicion multiplier %d: must not be negative", t.SuspicionMult))
	}
	return errs
}

// apply writes the non-zero fields over mc.
func (t Tuning) apply(mc *memberlist.Config) {
	for _, f := range []struct {
		dst *time.Duration
		v   time.Duration
	}{{&mc.ProbeInterval, t.ProbeInterval}, {&mc.ProbeTimeout, t.ProbeTimeout},
		{&mc.GossipInterval, t.GossipInterval}, {&mc.PushPullInterval, t.PushPullInterval}} {
		if f.v != 0 {
			*f.dst = f.v
		}
	}
	if t.SuspicionMult != 0 {
		mc.SuspicionMult = t.SuspicionMult
	}
	if t.DisableCompression {
		mc.EnableCompression = false
	}
}

// MaxSizeLimit bounds the user event, query and query response size
// limits. A gossip packet is at most ~1400 bytes and memberlist's largest
// message about 64 KB; Serf draws the line at 9 KB too.
const MaxSizeLimit = 9 * 1024

// DefaultConfig returns a Config with every default set.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:                   host,
		BindAddr:               "0.0.0.0",
		BindPort:               7946,
		Tags:                   map[string]string{},
		Profile:                "lan",
		ReconnectInterval:      30 * time.Second,
		ReconnectTimeout:       24 * time.Hour,
		TombstoneTimeout:       24 * time.Hour,
		ReapInterval:           15 * time.Second,
		LeaveTimeout:           5 * time.Second,
		EventBuffer:            512,
		QueryBuffer:            512,
		QueryTimeoutMult:       16,
		MaxQueryTimeout:        5 * time.Minute,
		QuerySizeLimit:         1024,
		QueryResponseSizeLimit: 1024,
		UserEventSizeLimit:     512,
		EventOrderWindow:       time.Second,
		EventPushRate:          10,
		CoalescePeriod:         3 * time.Second,
		QuiescentPeriod:        time.Second,
		MaxQueueDepth:          4096,
		QueueDepthWarning:      128,
		QueueWarnInterval:      30 * time.Second,
		CatalogInterval:        200 * time.Millisecond,
	}
}

// MaxNameLen is the longest node name, Serf's 128 bytes. A name is
// answered in DNS as <name>.node.<domain> only when each of its
// dot-separated labels is at most 63 bytes (package dns leaves other
// members, and their services, out of its answers).
const MaxNameLen = 128

// ValidName reports whether s is a node name: 1-128 letters, digits, '_',
// '.' or '-', starting with a letter or digit.
func ValidName(s string) bool {
	return len(s) <= MaxNameLen && s != "" && isAlnum(s[0]) && allNameChars(s)
}

// ValidTagKey reports whether s is a tag key, service name or service tag,
// or an instance, check or meta ID:
// 1-64 letters, digits, '_', '.' or '-'.
func ValidTagKey(s string) bool {
	return len(s) <= 64 && s != "" && allNameChars(s)
}

// The two checks above are plain loops rather than regexps because the
// bounded repetitions compile to programs that kept about 50 KB of heap
// alive for the life of the agent.
func allNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ValidName(c.Name) {
		bad("node name %q: must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", c.Name)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		bad("bind port %d: out of range", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		bad("advertise port %d: out of range", c.AdvertisePort)
	}
	switch c.Profile {
	case "lan", "wan", "local":
	default:
		bad("profile %q: must be lan, wan or local", c.Profile)
	}
	if _, err := encodeMeta(c.Tags); err != nil {
		errs = append(errs, err)
	}
	if err := CheckCatalog(c.Services, c.NodeChecks); err != nil {
		errs = append(errs, err)
	} else if _, err := newRecord(c.Name, 0, c.Services, c.NodeChecks); err != nil {
		errs = append(errs, err)
	}
	for name, d := range map[string]time.Duration{
		"reconnect interval": c.ReconnectInterval, "reconnect timeout": c.ReconnectTimeout,
		"tombstone timeout": c.TombstoneTimeout, "reap interval": c.ReapInterval,
		"leave timeout": c.LeaveTimeout, "event order window": c.EventOrderWindow,
		"queue warn interval": c.QueueWarnInterval, "max query timeout": c.MaxQueryTimeout,
		"catalog interval": c.CatalogInterval,
	} {
		if d <= 0 {
			bad("%s %s: must be positive", name, d)
		}
	}
	for name, v := range map[string]int{
		"event buffer": c.EventBuffer, "query buffer": c.QueryBuffer,
		"query timeout multiplier": c.QueryTimeoutMult, "query size limit": c.QuerySizeLimit,
		"query response size limit": c.QueryResponseSizeLimit, "user event size limit": c.UserEventSizeLimit,
		"max queue depth": c.MaxQueueDepth, "queue depth warning": c.QueueDepthWarning,
	} {
		if v <= 0 {
			bad("%s %d: must be positive", name, v)
		}
	}
	errs = append(errs, c.Tuning.validate()...)
	if c.MinQueueDepth < 0 {
		bad("min queue depth %d: must not be negative", c.MinQueueDepth)
	}
	if c.EventPushRate < 0 {
		bad("event push rate %d: must not be negative (0 turns eager push off)", c.EventPushRate)
	}
	if c.UserEventSizeLimit > MaxSizeLimit || c.QuerySizeLimit > MaxSizeLimit || c.QueryResponseSizeLimit > MaxSizeLimit {
		bad("event, query and response size limits must be at most %d bytes", MaxSizeLimit)
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			bad("gossip key %d: %w", i+1, err)
		}
	}
	return errors.Join(errs...)
}

// memberlistConfig builds the memberlist config for the profile.
func (c *Config) memberlistConfig() *memberlist.Config {
	var mc *memberlist.Config
	switch {
	case c.Memberlist != nil:
		copied := *c.Memberlist
		mc = &copied
	case c.Profile == "wan":
		mc = memberlist.DefaultWANConfig()
	case c.Profile == "local":
		mc = memberlist.DefaultLocalConfig()
	default:
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = c.Name
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	mc.Label = c.Label
	c.Tuning.apply(mc)
	mc.MetricLabels = nil
	for _, k := range slices.Sorted(maps.Keys(c.MetricLabels)) {
		mc.MetricLabels = append(mc.MetricLabels, metrics.Label{Name: k, Value: c.MetricLabels[k]})
	}
	return mc
}
