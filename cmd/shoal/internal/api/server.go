package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/internal/metrics"
	"github.com/shoal-dev/shoal/node"
)

// The API depends on small interfaces, one per concern, and never on the
// agent's config: the agent, or a test, provides them.

// Cluster is membership, events and queries: *node.Node has it.
type Cluster interface {
	Name() string
	Members() []node.Member
	Join(addrs []string, replay bool) (int, error)
	ForceLeave(name string, prune bool) error
	UserEvent(name string, payload []byte, coalesce bool) error
	Query(name string, payload []byte, qp *node.QueryParams) (*node.QueryResponse, error)
	DefaultQueryTimeout() time.Duration
	Subscribe(buffer int) (<-chan node.Event, func())
	Coordinates // network coordinates and the ping query (coordinates.go)
}

// Keys is the gossip keyring: *node.Node has it.
type Keys interface {
	InstallKey(key string) (*node.KeyResponse, error)
	UseKey(key string) (*node.KeyResponse, error)
	RemoveKey(key string) (*node.KeyResponse, error)
	ListKeys() (*node.KeyResponse, error)
}

// Tags are the local node's tags; UpdateTags changes and gossips them.
type Tags interface {
	Tags() map[string]string
	UpdateTags(set map[string]string, del []string) (map[string]string, error)
}

// Render is the template runner.
type Render interface {
	// RenderStatus returns every template's state.
	RenderStatus() []TemplateStatus
	// RenderNow renders the named template ("" all) now, reloading even
	// if unchanged, and returns once that render is done or ctx ends.
	RenderNow(ctx context.Context, template string) ([]TemplateStatus, error)
	// RenderDry renders every template from the live data without
	// writing, validating or reloading.
	RenderDry(ctx context.Context) ([]RenderResult, error)
}

// Agent is everything the API serves; *agent.Agent implements it.
type Agent interface {
	Cluster
	Keys
	Tags
	Render
	// Leave leaves the cluster gracefully; the agent then exits.
	Leave(ctx context.Context) error
	Info() Info
	// GossipSecurity says whether gossip, the source of every render, is
	// authenticated.
	GossipSecurity() GossipSecurity
}

// Server serves the API.
type Server struct {
	agent        Agent
	log          *slog.Logger
	hub          *logging.Hub
	token        string
	allowedHosts map[string]bool
	mux          *http.ServeMux
	services     Services // nil: no registry (services.go)
}

// Options are the API's trust rules (guard.go).
type Options struct {
	// Token, when set, must come with every request but /v1/health.
	Token string
	// AllowedHosts are the names, besides IP literals and localhost, that
	// a request's Host may carry (config http_allowed_hosts), lower-case.
	AllowedHosts []string
	// Services is the agent's service registry; nil answers its routes
	// with 501 (services.go).
	Services Services
}

// NewServer builds the handler tree. /v1/health stays open so load
// balancers and probes need no secret; it tells only that the agent is up
// and how many members are alive.
func NewServer(a Agent, logger *slog.Logger, hub *logging.Hub, reg *metrics.Registry, opts Options) *Server {
	s := &Server{agent: a, log: logger, hub: hub, token: opts.Token, allowedHosts: map[string]bool{}, mux: http.NewServeMux(), services: opts.Services}
	for _, h := range opts.AllowedHosts {
		s.allowedHosts[strings.ToLower(h)] = true
	}
	s.mux.HandleFunc("GET /v1/health", s.health)
	s.mux.HandleFunc("GET /v1/info", s.info)
	s.mux.HandleFunc("GET /v1/members", s.members)
	s.mux.HandleFunc("POST /v1/join", s.join)
	s.mux.HandleFunc("POST /v1/leave", s.leave)
	s.mux.HandleFunc("POST /v1/force-leave", s.forceLeave)
	s.mux.HandleFunc("POST /v1/event", s.event)
	s.mux.HandleFunc("POST /v1/query", s.query)
	s.mux.HandleFunc("GET /v1/monitor", s.monitor)
	s.mux.HandleFunc("GET /v1/tags", s.getTags)
	s.mux.HandleFunc("POST /v1/tags", s.setTags)
	s.mux.HandleFunc("GET /v1/keys", s.listKeys)
	s.mux.HandleFunc("POST /v1/keys/{op}", s.keyOp)
	s.mux.HandleFunc("GET /v1/render", s.renderStatus)
	s.mux.HandleFunc("POST /v1/render", s.renderNow)
	s.registerCoordinates()
	s.registerServices()
	s.mux.Handle("GET /metrics", reg.Handler(logger))
	return s
}

// ServeHTTP applies the trust rules (guard.go), then dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != healthPath {
		if err := s.checkHost(r.Host); err != nil {
			writeErr(w, http.StatusMisdirectedRequest, err)
			return
		}
		if err := checkBrowser(r); err != nil {
			writeErr(w, http.StatusForbidden, err)
			return
		}
		if s.token != "" && !s.authorized(r) {
			writeErr(w, http.StatusForbidden, errors.New("missing or wrong API token: send it in the "+TokenHeader+" header (shoal verbs read -http-token or SHOAL_HTTP_TOKEN)"))
			return
		}
	}
	if changesState(r.Method) {
		if err := checkJSON(r); err != nil {
			writeErr(w, http.StatusUnsupportedMediaType, err)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get(TokenHeader)
	if got == "" {
		got, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, Error{Error: err.Error()})
}

// decode reads a JSON body into v; unknown fields are errors, as in config.
// A body that checks itself (checkedBody) is refused when it fails.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	if c, ok := v.(checkedBody); ok {
		if err := c.check(); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return false
		}
	}
	return true
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	alive := 0
	for _, m := range s.agent.Members() {
		if m.Status == node.StatusAlive {
			alive++
		}
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok", Name: s.agent.Name(), Members: alive})
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.agent.Info())
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !decode(w, r, &req) {
		return
	}
	n, err := s.agent.Join(req.Addrs, req.Replay)
	if err != nil && n == 0 {
		writeErr(w, http.StatusBadGateway, err) // node names the join and each address
		return
	}
	writeJSON(w, http.StatusOK, JoinResponse{Joined: n})
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	if err := s.agent.Leave(r.Context()); err != nil {
		writeErr(w, http.StatusInternalServerError, err) // says "leave" already
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) forceLeave(w http.ResponseWriter, r *http.Request) {
	var req ForceLeaveRequest
	if !decode(w, r, &req) {
		return
	}
	if err := s.agent.ForceLeave(req.Node, req.Prune); err != nil {
		writeErr(w, http.StatusBadRequest, err) // says "force-leave" already
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	var req EventRequest
	if !decode(w, r, &req) {
		return
	}
	coalesce := req.Coalesce == nil || *req.Coalesce
	if err := s.agent.UserEvent(req.Name, []byte(req.Payload), coalesce); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("event: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) getTags(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.agent.Tags())
}

func (s *Server) setTags(w http.ResponseWriter, r *http.Request) {
	var req TagsRequest
	if !decode(w, r, &req) {
		return
	}
	tags, err := s.agent.UpdateTags(req.Set, req.Delete)
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("tags: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, tags)
}

// renderStatus answers GET /v1/render with every template's status, and
// GET /v1/render?dry=1 with a dry render of the live data as well.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request) {
	var out RenderResponse
	if dry := r.URL.Query().Get("dry"); dry != "" && dry != "0" && dry != "false" {
		res, err := s.agent.RenderDry(r.Context())
		if err != nil {
			writeErr(w, http.StatusInternalServerError, fmt.Errorf("dry render: %w", err))
			return
		}
		out.Results = res
	}
	out.Templates = s.agent.RenderStatus()
	out.GossipSecurity = s.agent.GossipSecurity()
	writeJSON(w, http.StatusOK, out)
}

// renderNow answers POST /v1/render: render (and reload) now, and return
// the status once done.
func (s *Server) renderNow(w http.ResponseWriter, r *http.Request) {
	var req RenderRequest
	if !decode(w, r, &req) {
		return
	}
	st, err := s.agent.RenderNow(r.Context(), req.Template)
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("render: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, RenderResponse{Templates: st, GossipSecurity: s.agent.GossipSecurity()})
}
