package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/node"
)

// Coordinates is what the rtt and reachability endpoints need; *node.Node
// has it.
type Coordinates interface {
	Coordinate() (*node.Coordinate, error)
	CachedCoordinate(name string) (*node.Coordinate, bool)
	Reachability(ctx context.Context, timeout time.Duration) (*node.Reachability, error)
}

// CoordinateResponse is a member's network coordinate. Two of them give an
// RTT estimate with node.EstimateRTT, as `shoal rtt` does.
type CoordinateResponse struct {
	Node  string           `json:"node"`
	Coord *node.Coordinate `json:"coord"`
}

// ReachabilityResponse is the result of the ping query (`shoal reachability`).
type ReachabilityResponse struct {
	Members    int      `json:"members"`
	Live       []string `json:"live"`
	Acked      []string `json:"acked"`
	Missing    []string `json:"missing"`
	Unexpected []string `json:"unexpected"`
	// Seconds the test took, and until the last ack came.
	QuerySeconds   float64 `json:"query_seconds"`
	LastAckSeconds float64 `json:"last_ack_seconds"`
}

func (s *Server) registerCoordinates() {
	s.mux.HandleFunc("GET /v1/coordinate", s.coordinate)
	s.mux.HandleFunc("GET /v1/reachability", s.reachability)
}

// coordinate answers GET /v1/coordinate?node=NAME with the coordinate the
// agent last saw from NAME; without node, with the agent's own.
func (s *Server) coordinate(w http.ResponseWriter, r *http.Request) {
	if _, err := s.agent.Coordinate(); err != nil {
		writeErr(w, http.StatusNotFound, fmt.Errorf("%w (disable_coordinates is set)", err))
		return
	}
	name := r.URL.Query().Get("node")
	if name == "" {
		name = s.agent.Name()
	}
	c, ok := s.agent.CachedCoordinate(name)
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no coordinate for node %q: not a member, or not probed by this agent yet", name))
		return
	}
	writeJSON(w, http.StatusOK, CoordinateResponse{Node: name, Coord: c})
}

// reachability answers GET /v1/reachability[?timeout=D]: it pings every
// member by query and reports who acked.
func (s *Server) reachability(w http.ResponseWriter, r *http.Request) {
	var timeout time.Duration
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration like 5s", t))
			return
		}
		timeout = d
	}
	res, err := s.agent.Reachability(r.Context(), timeout)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, context.Canceled) {
			status = http.StatusServiceUnavailable
		}
		writeErr(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, ReachabilityResponse{
		Members: res.Members, Live: nonNil(res.Live), Acked: nonNil(res.Acked),
		Missing: nonNil(res.Missing), Unexpected: nonNil(res.Unexpected),
		QuerySeconds: res.Elapsed.Seconds(), LastAckSeconds: res.LastAck.Seconds(),
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
