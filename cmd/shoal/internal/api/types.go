// Package api is the agent's HTTP/JSON interface: the server, and the
// request and response types the client verbs share with it.
//
// Who owns what: the server owns the trust rules (guard.go) and the wire
// format; it serves through small interfaces (Cluster, Keys, Tags, Render,
// in server.go) and never reads the agent's config, so a test can serve
// any implementation with httptest.
package api

import (
	"time"

	"github.com/shoal-dev/shoal/node"
)

// TokenHeader carries the API token; "Authorization: Bearer TOKEN" works too.
const TokenHeader = "X-Shoal-Token"

// Member is one member as the API shows it.
type Member struct {
	Name     string            `json:"name"`
	Addr     string            `json:"addr"`
	Port     uint16            `json:"port"`
	Status   string            `json:"status"`
	Tags     map[string]string `json:"tags"`
	Services []Service         `json:"services,omitempty"`
	Protocol [3]uint8          `json:"protocol"` // min, max, current
	// Health is the worst of the member's node checks, maintenance
	// included; Checks are those checks (servicetypes.go).
	Health string        `json:"health"`
	Checks []CheckStatus `json:"checks,omitempty"`
}

// Service is a member's service instance.
type Service struct {
	ID      string            `json:"id,omitempty"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"` // "" = the member's
	Port    uint16            `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Weight  int               `json:"weight"`
	Meta    map[string]string `json:"meta,omitempty"`
	Health  string            `json:"health,omitempty"`
	Checks  []CheckStatus     `json:"checks,omitempty"`
}

// MemberFrom converts a node member.
func MemberFrom(m node.Member) Member {
	out := Member{Name: m.Name, Port: m.Port, Status: m.Status.String(), Tags: m.Tags,
		Protocol: [3]uint8{m.ProtocolMin, m.ProtocolMax, m.ProtocolCur},
		Health:   m.Health.String(), Checks: checkStatuses(m.Checks)}
	if m.Addr != nil {
		out.Addr = m.Addr.String()
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	for _, s := range m.Services {
		out.Services = append(out.Services, serviceFrom(s))
	}
	return out
}

// JoinRequest asks the agent to join members.
type JoinRequest struct {
	Addrs  []string `json:"addrs"`
	Replay bool     `json:"replay,omitempty"`
}

// JoinResponse says how many members were contacted.
type JoinResponse struct {
	Joined int `json:"joined"`
}

// ForceLeaveRequest names a failed member to mark as left.
type ForceLeaveRequest struct {
	Node  string `json:"node"`
	Prune bool   `json:"prune,omitempty"`
}

// EventRequest sends a user event. Payloads are text in the API.
type EventRequest struct {
	Name     string `json:"name"`
	Payload  string `json:"payload,omitempty"`
	Coalesce *bool  `json:"coalesce,omitempty"` // default true, like Serf
}

// QueryRequest starts a query. Timeout is a Go duration ("5s"); empty uses
// the cluster-size based default.
type QueryRequest struct {
	Name    string            `json:"name"`
	Payload string            `json:"payload,omitempty"`
	Nodes   []string          `json:"nodes,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Timeout string            `json:"timeout,omitempty"`
	NoAck   bool              `json:"no_ack,omitempty"`
	// RelayFactor: each responder also answers through this many other
	// members (0-255), so answers survive packet loss.
	RelayFactor uint8 `json:"relay_factor,omitempty"`
}

// QueryLine is one line of a streamed query: an ack, a response, or the
// final summary ("done").
type QueryLine struct {
	Type      string `json:"type"` // ack | response | done
	From      string `json:"from,omitempty"`
	Payload   string `json:"payload,omitempty"`
	Acks      int    `json:"acks,omitempty"`
	Responses int    `json:"responses,omitempty"`
}

// MonitorLine is one line of /v1/monitor: a log record or an event.
type MonitorLine struct {
	Type    string         `json:"type"` // hello | log | event
	Time    time.Time      `json:"time"`
	Level   string         `json:"level,omitempty"`
	Message string         `json:"msg,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Event   string         `json:"event,omitempty"`
	Name    string         `json:"name,omitempty"`
	LTime   uint64         `json:"ltime,omitempty"`
	Payload string         `json:"payload,omitempty"`
	Members []string       `json:"members,omitempty"`
}

// TagsRequest sets and deletes tags of the local node.
type TagsRequest struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// KeyRequest names a key for install, use or remove.
type KeyRequest struct {
	Key string `json:"key"`
}

// KeyResponse is a keyring operation's cluster-wide result.
type KeyResponse struct {
	NumNodes    int               `json:"num_nodes"`
	NumResp     int               `json:"num_resp"`
	NumErr      int               `json:"num_err"`
	Messages    map[string]string `json:"messages,omitempty"`
	Keys        map[string]int    `json:"keys,omitempty"`
	PrimaryKeys map[string]int    `json:"primary_keys,omitempty"`
}

// Info describes the agent.
type Info struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	GossipAddr string            `json:"gossip_addr"`
	HTTPAddr   string            `json:"http_addr"`
	DNSAddr    string            `json:"dns_addr,omitempty"`
	Domain     string            `json:"domain"`
	Tags       map[string]string `json:"tags"`
	Services   []Service         `json:"services,omitempty"`
	GossipSecurity
	Stats     map[string]uint64 `json:"stats"`
	Handlers  []string          `json:"handlers,omitempty"`
	Templates []string          `json:"templates,omitempty"`
}

// GossipSecurity says what protects gossip, the write path into rendered
// configs and DNS. It is what the node's keyring holds, not what the
// config asked for. It appears at the top level of /v1/info and
// /v1/render.
type GossipSecurity struct {
	// Encrypted: the keyring holds a key, so only key holders can gossip.
	Encrypted bool `json:"gossip_encrypted"`
	// Insecure: the agent runs without a key because insecure_gossip is
	// set.
	Insecure bool `json:"insecure_gossip"`
}

// Health is /v1/health's answer.
type Health struct {
	Status  string `json:"status"` // ok
	Name    string `json:"name"`
	Members int    `json:"alive_members"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// TemplateStatus is one template's render state (GET /v1/render).
type TemplateStatus struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Backend     string `json:"backend,omitempty"`
	// LastRender is when the last attempt finished; zero before the first.
	LastRender time.Time `json:"last_render,omitzero"`
	// OK is false when the last attempt failed; Error says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// State is "ok", "failed" (nothing new installed; the installed file
	// is live) or "installed, reload failed" (the installed file is not
	// live: the load balancer runs the previous one until a reload takes;
	// ReloadPending is then true and the next retry is at NextReloadRetry).
	State           string      `json:"state"`
	ReloadPending   bool        `json:"reload_pending"`
	NextReloadRetry time.Time   `json:"next_reload_retry,omitzero"`
	TemplateError   string      `json:"template_error,omitempty"`
	Hash            string      `json:"hash,omitempty"` // sha256 of the installed file
	Backends        int         `json:"backends"`
	Excluded        []Exclusion `json:"excluded,omitempty"`
	Renders         uint64      `json:"renders"`
	Installs        uint64      `json:"installs"`
	Failures        uint64      `json:"failures"`
	Reloads         uint64      `json:"reloads"`
	// Applied counts installs the load balancer took without a reload,
	// through HAProxy's Runtime API.
	Applied uint64 `json:"applied"`
	// Runtime is what the template's HAProxy did through its Runtime API;
	// absent for other backends. Templates that drive one HAProxy show the
	// same counters.
	Runtime *RuntimeStatus `json:"runtime,omitempty"`
}

// RuntimeStatus counts what an HAProxy backend did to keep HAProxy current
// without reloads. Counters only grow; Draining and Ghosts are current.
type RuntimeStatus struct {
	Applies        uint64 `json:"applies"`  // changes made without a reload
	Commands       uint64 `json:"commands"` // runtime commands sent
	ServersAdded   uint64 `json:"servers_added"`
	ServersRemoved uint64 `json:"servers_removed"`
	Reloads        uint64 `json:"reloads"` // successful reloads, for any reason
	// Fallbacks counts changes that needed a reload, FallbackReasons by
	// reason (structure, options, drift, refused, ...); LastFallback says
	// why the last one did.
	Fallbacks       uint64            `json:"fallbacks"`
	FallbackReasons map[string]uint64 `json:"fallback_reasons,omitempty"`
	LastFallback    string            `json:"last_fallback,omitempty"`
	Reconciles      uint64            `json:"reconciles"`
	// DriftRepairs counts reloads because the running servers differed
	// from the installed file; LastDrift says how.
	DriftRepairs uint64 `json:"drift_repairs"`
	LastDrift    string `json:"last_drift,omitempty"`
	// Draining counts removed servers still draining; Ghosts those kept in
	// maintenance because HAProxy refused to delete them yet.
	Draining int `json:"draining"`
	Ghosts   int `json:"ghosts"`
}

// Exclusion is a member left out of rendering because a value was unsafe.
type Exclusion struct {
	Member string `json:"member"`
	Reason string `json:"reason"`
}

// RenderResult is one template of a dry render (GET /v1/render?dry=1):
// what would be written, from the agent's live data.
type RenderResult struct {
	Name        string `json:"name"`
	Destination string `json:"destination"`
	Content     string `json:"content,omitempty"`
	Changed     bool   `json:"changed"` // differs from the installed file
	Hash        string `json:"hash,omitempty"`
	Backends    int    `json:"backends"`
	Error       string `json:"error,omitempty"`
}

// RenderRequest asks the agent to render now (POST /v1/render): every
// template, or the one named (name or destination), reloading even when
// nothing changed, as `shoal event reload` does on every agent.
type RenderRequest struct {
	Template string `json:"template,omitempty"`
}

// RenderResponse carries the status of every template, and for a dry
// render the results.
type RenderResponse struct {
	Templates []TemplateStatus `json:"templates"`
	Results   []RenderResult   `json:"results,omitempty"`
	// Whether what is rendered came over authenticated gossip.
	GossipSecurity
}

// ConfigHash is an agent's answer to the built-in query config-hash: the
// hash of each of its templates' installed files and how its last render
// went. Kept short: a query response is limited to about 1 KB.
type ConfigHash struct {
	Templates []TemplateHash `json:"t"`
	// More counts templates left out to fit the response size limit.
	More int `json:"more,omitempty"`
}

// TemplateHash is one template in a ConfigHash answer.
type TemplateHash struct {
	Name  string `json:"n"`
	Hash  string `json:"h,omitempty"`
	OK    bool   `json:"ok"`
	Error string `json:"e,omitempty"`
}

// Names of the cluster events the agent handles itself.
const (
	// EventReload makes every agent with templates re-render and reload;
	// the payload, if any, names one template (name or destination).
	EventReload = "reload"
	// EventConfigHash is the user event an agent sends after a render
	// changed a file: "NODE HASH TEMPLATE".
	EventConfigHash = "config-hash"
	// QueryConfigHash is answered by every agent with a ConfigHash.
	QueryConfigHash = "config-hash"
)
