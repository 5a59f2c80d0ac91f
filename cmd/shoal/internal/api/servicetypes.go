package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// ServiceRegistration is the body of PUT /v1/agent/services/{id}: one
// instance and its checks, with the keys of a config file's service block.
type ServiceRegistration struct {
	// ID may be left out: the path names the instance. When given it
	// must match the path.
	ID      string            `json:"id,omitempty"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"` // IP; "" = the member's
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Weight  *int              `json:"weight,omitempty"` // default 1
	Meta    map[string]string `json:"meta,omitempty"`
	Checks  []CheckDefinition `json:"checks,omitempty"`
}

// CheckDefinition is one check of a registration: the keys of a config
// file's check block. Durations are Go durations ("500ms", "10s").
type CheckDefinition struct {
	ID                     string              `json:"id,omitempty"`
	Name                   string              `json:"name,omitempty"`
	HTTP                   string              `json:"http,omitempty"`
	Method                 string              `json:"method,omitempty"`
	Header                 map[string][]string `json:"header,omitempty"`
	TCP                    string              `json:"tcp,omitempty"`
	Args                   []string            `json:"args,omitempty"`
	TTL                    string              `json:"ttl,omitempty"`
	Interval               string              `json:"interval,omitempty"`
	Timeout                string              `json:"timeout,omitempty"`
	SuccessBeforePassing   int                 `json:"success_before_passing,omitempty"`
	FailuresBeforeCritical int                 `json:"failures_before_critical,omitempty"`
	InitialStatus          string              `json:"initial_status,omitempty"` // passing | warning | critical (default)
}

// CheckStatus is one check as the API shows it. Kind, Output and Updated
// are known only to the agent that runs the check (/v1/agent/...); the
// cluster-wide views carry what is gossiped: status and note.
type CheckStatus struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	ServiceID string `json:"service_id,omitempty"` // "" for a node check
	Status    string `json:"status"`               // passing | warning | critical | maintenance
	Note      string `json:"note,omitempty"`

	Kind    string    `json:"kind,omitempty"`   // http | tcp | script | ttl | maintenance
	Output  string    `json:"output,omitempty"` // truncated
	Updated time.Time `json:"updated,omitzero"`
}

// CheckStatusFrom converts a gossiped check state.
func CheckStatusFrom(c node.CheckState) CheckStatus {
	return CheckStatus{ID: c.ID, Name: c.Name, ServiceID: c.ServiceID, Status: c.Status.String(), Note: c.Note}
}

func checkStatuses(cs []node.CheckState) []CheckStatus {
	if len(cs) == 0 {
		return nil
	}
	out := make([]CheckStatus, len(cs))
	for i, c := range cs {
		out[i] = CheckStatusFrom(c)
	}
	return out
}

// LocalService is one of the agent's own instances (GET
// /v1/agent/services): the registration as the agent holds it, where it
// came from, and its checks with their output.
type LocalService struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Weight  int               `json:"weight"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Source is "config" (a service block or -service; deregistered by
	// editing the config and SIGHUP) or "runtime" (the API or CLI; kept
	// in the data directory).
	Source            string        `json:"source"`
	Health            string        `json:"health"`
	Maintenance       bool          `json:"maintenance,omitempty"`
	MaintenanceReason string        `json:"maintenance_reason,omitempty"`
	Checks            []CheckStatus `json:"checks"`
}

// AgentServices is GET /v1/agent/services's answer.
type AgentServices struct {
	Node string `json:"node"`
	// Health is the node's own: the worst of its node checks.
	Health     string         `json:"health"`
	NodeChecks []CheckStatus  `json:"node_checks"`
	Services   []LocalService `json:"services"`
}

// MaintenanceRequest is the body of PUT /v1/agent/maintenance and PUT
// /v1/agent/services/{id}/maintenance.
type MaintenanceRequest struct {
	Enable bool   `json:"enable"`
	Reason string `json:"reason,omitempty"`
}

// CheckUpdate is the optional body of PUT /v1/agent/checks/{id}/{pass|warn|fail}.
type CheckUpdate struct {
	Note string `json:"note,omitempty"`
}

// CatalogService is one service of GET /v1/catalog/services: every
// instance on members that are alive or suspect.
type CatalogService struct {
	Name string `json:"name"`
	// Tags is the union of the instances' tags, sorted.
	Tags      []string `json:"tags"`
	Instances int      `json:"instances"`
	// Passing and Warning count instances by health; the rest are
	// critical or in maintenance and take no traffic.
	Passing int `json:"passing"`
	Warning int `json:"warning"`
}

// ServiceInstance is one instance of GET /v1/health/service/{name}.
type ServiceInstance struct {
	Member       string `json:"member"`
	MemberStatus string `json:"member_status"` // alive | suspect
	ID           string `json:"id"`
	Name         string `json:"name"`
	// Address is where to reach the instance: its own, else the member's.
	Address string            `json:"address"`
	Port    uint16            `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Weight  int               `json:"weight"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Health is the instance's effective health: its checks, the
	// member's node checks and maintenance folded in.
	Health string `json:"health"`
	// Checks are the instance's checks, then the member's node checks.
	Checks []CheckStatus `json:"checks"`
}

// instanceID is s's ID; an agent that gossips none has one instance per
// name, whose ID is the name (node.Service).
func instanceID(s node.Service) string {
	if s.ID == "" {
		return s.Name
	}
	return s.ID
}

// serviceFrom converts a member's instance for /v1/members and /v1/info.
func serviceFrom(s node.Service) Service {
	out := Service{ID: instanceID(s), Name: s.Name, Port: s.Port, Tags: s.Tags, Weight: s.Weight,
		Meta: s.Meta, Health: s.Health.String(), Checks: checkStatuses(s.Checks)}
	if s.Address != nil {
		out.Address = s.Address.String()
	}
	return out
}

// instanceFrom is the health view of m's instance s.
func instanceFrom(m node.Member, s node.Service) ServiceInstance {
	addr := s.Address
	if addr == nil {
		addr = m.Addr
	}
	out := ServiceInstance{Member: m.Name, MemberStatus: m.Status.String(), ID: instanceID(s), Name: s.Name,
		Port: s.Port, Tags: s.Tags, Weight: s.Weight, Meta: s.Meta, Health: s.Health.String(),
		Checks: append(checkStatuses(s.Checks), checkStatuses(m.Checks)...)}
	if addr != nil {
		out.Address = addr.String()
	}
	if out.Checks == nil {
		out.Checks = []CheckStatus{}
	}
	return out
}

// catalog groups the instances of alive and suspect members by name.
func catalog(members []node.Member) []CatalogService {
	byName := map[string]*CatalogService{}
	for _, m := range members {
		if !m.Status.AliveOrSuspect() {
			continue
		}
		for _, s := range m.Services {
			c := byName[s.Name]
			if c == nil {
				c = &CatalogService{Name: s.Name, Tags: []string{}}
				byName[s.Name] = c
			}
			c.Instances++
			switch s.Health {
			case node.HealthPassing:
				c.Passing++
			case node.HealthWarning:
				c.Warning++
			}
			for _, t := range s.Tags {
				if !slices.Contains(c.Tags, t) {
					c.Tags = append(c.Tags, t)
				}
			}
		}
	}
	out := make([]CatalogService, 0, len(byName))
	for _, c := range byName {
		slices.Sort(c.Tags)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b CatalogService) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
