package node

// This file holds the exported API of Node while the implementation lands.
// It is replaced by node.go; signatures here are the contract.

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

var errNotYet = errors.New("node: not implemented yet")

// Config configures a Node. DefaultConfig sets every field.
type Config struct {
	Name          string
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	AdvertisePort int
	Tags          map[string]string
	Services      []Service
	// Profile picks memberlist timings: "lan", "wan" or "local".
	Profile string

	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	TombstoneTimeout  time.Duration
	ReapInterval      time.Duration
	LeaveTimeout      time.Duration

	EventBuffer            int
	QueryBuffer            int
	QueryTimeoutMult       int
	QuerySizeLimit         int
	QueryResponseSizeLimit int
	UserEventSizeLimit     int
	CoalescePeriod         time.Duration
	QuiescentPeriod        time.Duration

	SnapshotPath     string
	RejoinAfterLeave bool

	// Keys is the gossip keyring; the first key is primary. Empty: no encryption.
	Keys [][]byte
	// KeyringFile, when set, is loaded at start and rewritten on key changes.
	KeyringFile string
	Label       string

	// Memberlist, when non-nil, is used instead of the profile's config
	// (tests shrink intervals here). Name, bind, delegates are overwritten.
	Memberlist *memberlist.Config
}

// QueryParams filter and time a query.
type QueryParams struct {
	FilterNodes []string
	// FilterTags maps a tag key to a regular expression its value must match.
	FilterTags map[string]string
	RequestAck bool
	Timeout    time.Duration
}

// NodeResponse is one member's answer to a query.
type NodeResponse struct {
	From    string
	Payload []byte
}

// QueryResponse streams acks and responses for one query until its deadline.
type QueryResponse struct {
	ackCh  chan string
	respCh chan NodeResponse
}

func (r *QueryResponse) AckCh() <-chan string            { return r.ackCh }
func (r *QueryResponse) ResponseCh() <-chan NodeResponse { return r.respCh }

// KeyResponse is the cluster-wide result of a keyring operation.
type KeyResponse struct {
	Messages    map[string]string // node -> error text
	NumNodes    int
	NumResp     int
	NumErr      int
	Keys        map[string]int // base64 key -> nodes that have it
	PrimaryKeys map[string]int
}

// Stats are counters for metrics and `shoal info`.
type Stats struct {
	Members, Alive, Failed, Left int
	Health                       int
	LamportTime, EventTime       LamportTime
	QueryTime                    LamportTime
	DroppedMessages              uint64
	DroppedEvents                uint64
}

type Node struct{}

func DefaultConfig() Config                              { return Config{} }
func New(cfg Config, logger *slog.Logger) (*Node, error) { return nil, errNotYet }
func (n *Node) Start() error                             { return errNotYet }
func (n *Node) Join(addrs []string, replay bool) (int, error) {
	return 0, errNotYet
}
func (n *Node) Leave() error                                  { return errNotYet }
func (n *Node) Shutdown() error                               { return errNotYet }
func (n *Node) Name() string                                  { return "" }
func (n *Node) LocalAddr() (net.IP, uint16)                   { return nil, 0 }
func (n *Node) Snapshot() *Snapshot                           { return &Snapshot{} }
func (n *Node) Members() []Member                             { return nil }
func (n *Node) Watch() (<-chan struct{}, func())              { return nil, func() {} }
func (n *Node) Subscribe(buffer int) (<-chan Event, func())   { return nil, func() {} }
func (n *Node) SetTags(tags map[string]string) error          { return errNotYet }
func (n *Node) SetServices(s []Service) error                 { return errNotYet }
func (n *Node) UserEvent(name string, p []byte, c bool) error { return errNotYet }
func (n *Node) Query(name string, p []byte, qp *QueryParams) (*QueryResponse, error) {
	return nil, errNotYet
}
func (n *Node) DefaultQueryTimeout() time.Duration          { return 0 }
func (n *Node) ForceLeave(name string, prune bool) error    { return errNotYet }
func (n *Node) InstallKey(key string) (*KeyResponse, error) { return nil, errNotYet }
func (n *Node) UseKey(key string) (*KeyResponse, error)     { return nil, errNotYet }
func (n *Node) RemoveKey(key string) (*KeyResponse, error)  { return nil, errNotYet }
func (n *Node) ListKeys() (*KeyResponse, error)             { return nil, errNotYet }
func (n *Node) Stats() Stats                                { return Stats{} }
