package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/logging"
	"github.com/shoal-dev/shoal/node"
)

// ndjson writes one JSON value per line and flushes each, so a client sees
// acks, responses and log lines as they happen.
type ndjson struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *json.Encoder
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return &ndjson{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
}

func (n *ndjson) send(v any) error {
	if err := n.enc.Encode(v); err != nil {
		return err
	}
	return n.rc.Flush()
}

// query answers POST /v1/query with a stream of QueryLine.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	var req QueryRequest
	if !decode(w, r, &req) {
		return
	}
	qp := &node.QueryParams{FilterNodes: req.Nodes, FilterTags: req.Tags, RequestAck: !req.NoAck, RelayFactor: req.RelayFactor}
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("timeout %q is not a positive duration", req.Timeout))
			return
		}
		qp.Timeout = d
	}
	timeout := qp.Timeout
	if timeout == 0 {
		timeout = s.agent.DefaultQueryTimeout()
	}
	resp, err := s.agent.Query(req.Name, []byte(req.Payload), qp)
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("query: %w", err))
		return
	}
	// Whenever the stream ends, the client gone included, the node
	// forgets the query at once rather than at its deadline.
	defer resp.Close()
	out := newNDJSON(w)
	ackCh, respCh := resp.AckCh(), resp.ResponseCh()
	// The node closes both channels at the deadline; the timer is a guard
	// so a stream never outlives its query by much.
	guard := time.NewTimer(timeout + 2*time.Second)
	defer guard.Stop()
	var acks, resps int
	for ackCh != nil || respCh != nil {
		select {
		case from, ok := <-ackCh:
			if !ok {
				ackCh = nil
				continue
			}
			acks++
			if out.send(QueryLine{Type: "ack", From: from}) != nil {
				return
			}
		case nr, ok := <-respCh:
			if !ok {
				respCh = nil
				continue
			}
			resps++
			if out.send(QueryLine{Type: "response", From: nr.From, Payload: string(nr.Payload)}) != nil {
				return
			}
		case <-guard.C:
			ackCh, respCh = nil, nil
		case <-r.Context().Done():
			return
		}
	}
	_ = out.send(QueryLine{Type: "done", Acks: acks, Responses: resps})
}

// monitor answers GET /v1/monitor?level=LEVEL with log records and events
// until the client goes away.
func (s *Server) monitor(w http.ResponseWriter, r *http.Request) {
	level := slog.LevelInfo
	if l := r.URL.Query().Get("level"); l != "" {
		var err error
		if level, err = logging.ParseLevel(l); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	}
	logs, stopLogs := s.hub.Subscribe(level, 256)
	defer stopLogs()
	events, stopEvents := s.agent.Subscribe(64)
	defer stopEvents()
	out := newNDJSON(w)
	// The first line tells the client the subscription is in place.
	if out.send(MonitorLine{Type: "hello", Time: time.Now(), Level: level.String()}) != nil {
		return
	}
	for {
		var line MonitorLine
		select {
		case rec := <-logs:
			line = MonitorLine{Type: "log", Time: rec.Time, Level: rec.Level, Message: rec.Message, Attrs: rec.Attrs}
		case e, ok := <-events:
			if !ok {
				return
			}
			line = eventLine(e)
		case <-r.Context().Done():
			return
		}
		if out.send(line) != nil {
			return
		}
	}
}

func eventLine(e node.Event) MonitorLine {
	l := MonitorLine{Type: "event", Time: time.Now(), Event: e.EventType().String()}
	switch e := e.(type) {
	case *node.MemberEvent:
		for _, m := range e.Members {
			l.Members = append(l.Members, m.Name)
		}
	case *node.UserEvent:
		l.Name, l.LTime, l.Payload = e.Name, uint64(e.LTime), string(e.Payload)
	case *node.Query:
		l.Name, l.LTime, l.Payload = e.Name, uint64(e.LTime), string(e.Payload)
	}
	return l
}
