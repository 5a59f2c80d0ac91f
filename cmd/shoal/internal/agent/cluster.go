package agent

import (
	"context"
	"net"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/buildinfo"
	"github.com/shoal-dev/shoal/node"
)

// gossipNode is what the agent uses of its node. *node.Node has it; the
// node is a field, not embedded, so the node's SetTags is reached only
// through the agent's tag bookkeeping (UpdateTags, Reload).
type gossipNode interface {
	api.Cluster
	api.Keys
	Snapshot() *node.Snapshot
	Watch() (<-chan struct{}, func())
	Start() error
	Leave() error
	Shutdown() error
	Fatal() <-chan error
	LocalAddr() (net.IP, uint16)
	Encrypted() bool
	Stats() node.Stats
	SetTags(tags map[string]string) error
	SetCatalog(services []node.Service, nodeChecks []node.CheckState) error
}

var _ gossipNode = (*node.Node)(nil)

// The API's cluster and key operations are the node's.

func (a *Agent) Name() string           { return a.node.Name() }
func (a *Agent) Members() []node.Member { return a.node.Members() }
func (a *Agent) Join(addrs []string, replay bool) (int, error) {
	return a.node.Join(addrs, replay)
}
func (a *Agent) ForceLeave(name string, prune bool) error { return a.node.ForceLeave(name, prune) }
func (a *Agent) UserEvent(name string, payload []byte, coalesce bool) error {
	return a.node.UserEvent(name, payload, coalesce)
}
func (a *Agent) Query(name string, payload []byte, qp *node.QueryParams) (*node.QueryResponse, error) {
	return a.node.Query(name, payload, qp)
}
func (a *Agent) DefaultQueryTimeout() time.Duration { return a.node.DefaultQueryTimeout() }
func (a *Agent) Subscribe(buffer int) (<-chan node.Event, func()) {
	return a.node.Subscribe(buffer)
}
func (a *Agent) Coordinate() (*node.Coordinate, error) { return a.node.Coordinate() }
func (a *Agent) CachedCoordinate(name string) (*node.Coordinate, bool) {
	return a.node.CachedCoordinate(name)
}
func (a *Agent) Reachability(ctx context.Context, timeout time.Duration) (*node.Reachability, error) {
	return a.node.Reachability(ctx, timeout)
}
func (a *Agent) InstallKey(key string) (*node.KeyResponse, error) { return a.node.InstallKey(key) }
func (a *Agent) UseKey(key string) (*node.KeyResponse, error)     { return a.node.UseKey(key) }
func (a *Agent) RemoveKey(key string) (*node.KeyResponse, error)  { return a.node.RemoveKey(key) }
func (a *Agent) ListKeys() (*node.KeyResponse, error)             { return a.node.ListKeys() }

var _ api.Agent = (*Agent)(nil)

// Info describes the agent for /v1/info.
func (a *Agent) Info() api.Info {
	cfg := a.config()
	st := a.node.Stats()
	info := api.Info{
		Name: a.node.Name(), Version: buildinfo.Version,
		GossipAddr: a.GossipAddr(),
		HTTPAddr:   a.HTTPAddr(), DNSAddr: a.dnsAddr(), Domain: cfg.Domain,
		Tags: a.Tags(), GossipSecurity: a.GossipSecurity(),
		Handlers: slices.Clone(cfg.EventHandlers),
		Stats: map[string]uint64{
			"members": uint64(st.Members), "alive": uint64(st.Alive), "suspect": uint64(st.Suspect), "failed": uint64(st.Failed),
			"left": uint64(st.Left), "health_score": uint64(st.Health),
			"member_time": uint64(st.LamportTime), "event_time": uint64(st.EventTime), "query_time": uint64(st.QueryTime),
			"dropped_messages": st.DroppedMessages, "dropped_events": st.DroppedEvents,
			"dropped_broadcasts": st.DroppedBroadcasts, "pending_queries": uint64(st.PendingQueries),
		},
	}
	info.Services = a.svc.infoServices()
	for _, t := range cfg.Templates {
		info.Templates = append(info.Templates, t.Source+" -> "+t.Destination+" ("+t.Backend.Kind+")")
	}
	return info
}
