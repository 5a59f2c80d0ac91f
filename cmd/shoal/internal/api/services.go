package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/shoal-dev/shoal/node"
)

// Services and health routes. The agent's own registry lives under
// /v1/agent, what the whole cluster gossips under /v1/catalog and
// /v1/health (read from the local snapshot: no other agent is asked).
//
//	GET    /v1/agent/services                     AgentServices: this agent's instances, node checks, output
//	GET    /v1/agent/services/{id}                LocalService, 404 if unknown
//	PUT    /v1/agent/services/{id}                register (body ServiceRegistration); 200 LocalService
//	DELETE /v1/agent/services/{id}                deregister a runtime instance
//	PUT    /v1/agent/services/{id}/maintenance    body MaintenanceRequest{enable, reason}
//	PUT    /v1/agent/maintenance                  the same for the whole node
//	PUT    /v1/agent/checks/{id}/{pass|warn|fail} update a ttl check; body CheckUpdate{note}, optional
//	GET    /v1/catalog/services                   []CatalogService: every service name, counts by health
//	GET    /v1/health/service/{name}[?passing][&tag=T]
//	                                              []ServiceInstance of alive and suspect members;
//	                                              ?passing keeps passing ones only
//
// Errors: 400 names the field (the config files' rules, applied by the
// agent);
// 404 an unknown instance or check; 409 a duplicate id, or an instance the
// config owns; 501 when the agent runs no registry. The guard's rules
// (Host, browser, token, JSON content type) apply as to every route.

// Services is the agent's local registry as the API drives it. The agent
// implements it over its registry; Options.Services may be nil.
//
// Errors from the methods are mapped to statuses by what they wrap:
// ErrNotFound 404, ErrConflict 409, ErrInternal 500, anything else 400
// (the registry refused the values; its message is passed on).
type Services interface {
	// Local lists the agent's instances; NodeChecks its node-level
	// checks, maintenance (node.MaintenanceCheckID) included.
	Local() []LocalService
	NodeChecks() []CheckStatus
	// Register adds or replaces a runtime instance. reg comes as the
	// client sent it, with ID set from the path; the implementation fills
	// the defaults and validates it with the config files' rules, so a
	// request is refused for the same reasons, in the same words.
	Register(reg ServiceRegistration) error
	// Deregister removes a runtime instance.
	Deregister(id string) error
	// Maintenance switches maintenance of one instance, or of the node
	// when serviceID is "".
	Maintenance(serviceID string, enable bool, reason string) error
	// UpdateTTL sets a ttl check's status (passing, warning or critical).
	UpdateTTL(checkID string, status node.Health, note string) error
}

// Errors a Services implementation wraps to choose the answer's status.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInternal = errors.New("internal error")
)

// maxNoteLen bounds a ttl note and a maintenance reason; the agent
// shortens what it gossips further.
const maxNoteLen = 1024

func (s *Server) registerServices() {
	s.mux.HandleFunc("GET /v1/agent/services", s.agentServices)
	s.mux.HandleFunc("GET /v1/agent/services/{id}", s.agentService)
	s.mux.HandleFunc("PUT /v1/agent/services/{id}", s.registerService)
	s.mux.HandleFunc("DELETE /v1/agent/services/{id}", s.deregisterService)
	s.mux.HandleFunc("PUT /v1/agent/services/{id}/maintenance", s.maintenance)
	s.mux.HandleFunc("PUT /v1/agent/maintenance", s.maintenance)
	s.mux.HandleFunc("PUT /v1/agent/checks/{id}/{status}", s.updateCheck)
	s.mux.HandleFunc("GET /v1/catalog/services", s.catalogServices)
	s.mux.HandleFunc("GET /v1/health/service/{name}", s.healthService)
}

// registry returns the Services or answers 501.
func (s *Server) registry(w http.ResponseWriter) (Services, bool) {
	if s.services == nil {
		writeErr(w, http.StatusNotImplemented, errors.New("this agent runs no service registry"))
		return nil, false
	}
	return s.services, true
}

// registryWithBody is registry, then decode of the request's body into v.
func (s *Server) registryWithBody(w http.ResponseWriter, r *http.Request, v any) (Services, bool) {
	reg, ok := s.registry(w)
	return reg, ok && decode(w, r, v)
}

// writeServicesErr answers with the status the error wraps (see Services).
// The registry's errors name the service or check already; a prefix here
// made the CLI say the id twice.
func writeServicesErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrInternal):
		status = http.StatusInternalServerError
	}
	writeErr(w, status, err)
}

func (s *Server) agentServices(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w)
	if !ok {
		return
	}
	out := AgentServices{Node: s.agent.Name(), Health: node.HealthPassing.String(),
		NodeChecks: reg.NodeChecks(), Services: reg.Local()}
	worst := node.HealthPassing
	for _, c := range out.NodeChecks {
		if h, ok := node.ParseHealth(c.Status); ok {
			worst = node.Worst(worst, h)
		}
	}
	out.Health = worst.String()
	if out.NodeChecks == nil {
		out.NodeChecks = []CheckStatus{}
	}
	if out.Services == nil {
		out.Services = []LocalService{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) agentService(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w)
	if !ok {
		return
	}
	if ls, ok := findLocal(reg, r.PathValue("id")); ok {
		writeJSON(w, http.StatusOK, ls)
		return
	}
	writeErr(w, http.StatusNotFound, fmt.Errorf("no service instance %q on this agent", r.PathValue("id")))
}

func findLocal(reg Services, id string) (LocalService, bool) {
	for _, ls := range reg.Local() {
		if ls.ID == id {
			return ls, true
		}
	}
	return LocalService{}, false
}

func (s *Server) registerService(w http.ResponseWriter, r *http.Request) {
	var req ServiceRegistration
	reg, ok := s.registryWithBody(w, r, &req)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if req.ID != "" && req.ID != id {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("register: id %q in the body differs from %q in the path", req.ID, id))
		return
	}
	req.ID = id
	if err := reg.Register(req); err != nil {
		writeServicesErr(w, err)
		return
	}
	ls, _ := findLocal(reg, id)
	writeJSON(w, http.StatusOK, ls)
}

func (s *Server) deregisterService(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := reg.Deregister(id); err != nil {
		writeServicesErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// maintenance serves both the node's and one instance's switch; the path
// has no {id} for the node.
func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	var req MaintenanceRequest
	reg, ok := s.registryWithBody(w, r, &req)
	if !ok {
		return
	}
	if err := reg.Maintenance(r.PathValue("id"), req.Enable, req.Reason); err != nil {
		writeServicesErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// ttlStatuses maps the path's verb to a status, as `shoal check` names them.
var ttlStatuses = map[string]node.Health{
	"pass": node.HealthPassing, "warn": node.HealthWarning, "fail": node.HealthCritical,
}

func (s *Server) updateCheck(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w)
	if !ok {
		return
	}
	status, ok := ttlStatuses[r.PathValue("status")]
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Errorf("check status %q is not pass, warn or fail", r.PathValue("status")))
		return
	}
	var req CheckUpdate
	// The body is optional: `shoal check pass ID` sends none.
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if err := reg.UpdateTTL(id, status, req.Note); err != nil {
		writeServicesErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, catalog(s.agent.Members()))
}

// healthService answers with every instance of the named service on alive
// and suspect members, or with ?passing only passing ones; ?tag=T (may
// repeat) keeps instances carrying every tag given.
func (s *Server) healthService(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	passing, err := flagParam(q, "passing")
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	name := r.PathValue("name")
	out := []ServiceInstance{}
	for _, m := range s.agent.Members() {
		if !m.Status.AliveOrSuspect() {
			continue
		}
		for _, svc := range m.Services {
			if svc.Name != name || passing && svc.Health != node.HealthPassing || !hasTags(svc, q["tag"]) {
				continue
			}
			out = append(out, instanceFrom(m, svc))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func hasTags(s node.Service, tags []string) bool {
	for _, t := range tags {
		if !s.HasTag(t) {
			return false
		}
	}
	return true
}

// flagParam reads a boolean query parameter: present and empty, 1 or
// true is on; absent, 0 or false off.
func flagParam(q map[string][]string, name string) (bool, error) {
	vs, ok := q[name]
	if !ok {
		return false, nil
	}
	switch vs[0] {
	case "", "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("?%s=%q: want no value, true or false", name, vs[0])
}
