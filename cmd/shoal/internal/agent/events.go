package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/render"
)

// builtin handles the cluster events and queries the agent answers itself
// (DESIGN "Events and queries"). It reports whether e is consumed: the
// config-hash query is, because a query is answered once and the answer is
// the agent's; the reload event also goes on to handler scripts, which may
// want to know.
func (a *Agent) builtin(e node.Event) bool {
	switch e := e.(type) {
	case *node.UserEvent:
		if e.Name == api.EventReload {
			a.reloadEvent(strings.TrimSpace(string(e.Payload)))
		}
	case *node.Query:
		if e.Name == api.QueryConfigHash {
			// Respond sends one UDP packet; it does not block the loop.
			if err := e.Respond(a.configHash()); err != nil {
				a.log.Warn("config-hash query: cannot respond", "from", e.SourceNode, "err", err)
			}
			return true
		}
	}
	return false
}

// reloadEvent re-renders and reloads every template, or the one named by
// name or destination, through the reload gate: a flood of reload events
// reloads at most once per reloadEventInterval for each target (one
// template, or all of them, which render reloads in one batch). Agents
// without the named template, or without templates, ignore it.
func (a *Agent) reloadEvent(name string) {
	r := a.render.Load()
	if r == nil {
		return
	}
	run := r.current()
	if run == nil {
		a.log.Debug("reload event ignored: no templates here")
		return
	}
	target, ok := r.find(run, name)
	if !ok {
		a.log.Debug("reload event ignored: no such template here", "template", name)
		return
	}
	if out := a.reloads.request(target); out != gateFired {
		a.log.Debug("reload event coalesced", "template", target, "outcome", string(out), "interval", reloadEventInterval)
	}
}

// fireReload is the reload gate's action: render and reload template
// ("" all) in the runner current at the time it fires.
func (a *Agent) fireReload(template string) {
	r := a.render.Load()
	if r == nil {
		return
	}
	run := r.current()
	if run == nil {
		return
	}
	a.log.Info("reload event: rendering and reloading", "template", template)
	if err := run.RenderNow(template); err != nil {
		a.log.Warn("reload event", "template", template, "err", err)
	}
}

// configHash is this agent's answer to the config-hash query, computed
// from the render status it keeps anyway: no state, no extra gossip. It
// fits the query response limit by shortening error texts, then by
// leaving templates out (and saying how many).
func (a *Agent) configHash() []byte {
	// nodeConfig keeps node's default response limit.
	limit := node.DefaultConfig().QueryResponseSizeLimit
	var st []render.TemplateStatus
	if r := a.render.Load(); r != nil {
		st = r.Status()
	}
	ch := api.ConfigHash{Templates: []api.TemplateHash{}}
	for _, s := range st {
		th := api.TemplateHash{Name: s.Name, Hash: s.Hash, OK: s.OK && s.TemplateError == "", Error: s.Error}
		if th.Error == "" {
			th.Error = s.TemplateError
		}
		th.Error = clip(th.Error, 120)
		ch.Templates = append(ch.Templates, th)
	}
	for {
		b, _ := json.Marshal(ch)
		if len(b) <= limit-16 || len(ch.Templates) == 0 {
			return b
		}
		ch.Templates = ch.Templates[:len(ch.Templates)-1]
		ch.More++
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// announceHash tells the cluster, with a user event, that a render changed
// a file here: "NODE HASH TEMPLATE". Installs happen only when a file's
// bytes change, after quiescence, so this is at most one small broadcast
// per change per load-balancer node; handler scripts (user:config-hash)
// and `shoal monitor` see it at once, and `shoal query config-hash` gives
// the full picture on demand. Not coalesced: coalescing keeps only the
// newest event of a name and would drop other nodes' announcements.
func (a *Agent) announceHash(in render.Installed) {
	payload := a.node.Name() + " " + in.Hash + " " + in.Name
	if err := a.node.UserEvent(api.EventConfigHash, []byte(payload), false); err != nil {
		a.log.Warn("config hash not announced", "template", in.Name, "err", err)
	}
}

// RenderStatus is every template's state, for /v1/render.
func (a *Agent) RenderStatus() []api.TemplateStatus {
	return statusAPI(a.renderTotals())
}

func (a *Agent) renderTotals() []templateTotals {
	r := a.render.Load()
	if r == nil {
		return nil
	}
	return r.totals()
}

// RenderNow renders now and reloads (shoal render -once).
func (a *Agent) RenderNow(ctx context.Context, template string) ([]api.TemplateStatus, error) {
	r := a.render.Load()
	if r == nil {
		return nil, errors.New("the agent is still starting")
	}
	if _, err := r.renderNow(ctx, template); err != nil {
		return nil, err
	}
	return a.RenderStatus(), nil
}

// RenderDry renders every template from the live data without writing,
// validating or reloading (shoal render -dry).
func (a *Agent) RenderDry(ctx context.Context) ([]api.RenderResult, error) {
	r := a.render.Load()
	if r == nil {
		return nil, errors.New("the agent is still starting")
	}
	res, err := r.dry(ctx)
	if err != nil {
		return nil, fmt.Errorf("dry render: %w", err)
	}
	out := make([]api.RenderResult, len(res))
	for i, x := range res {
		out[i] = api.RenderResult{Name: x.Name, Destination: x.Destination, Content: string(x.Content),
			Changed: x.Changed, Hash: x.Hash, Backends: x.Backends}
		if x.Err != nil {
			out[i].Error = x.Err.Error()
		}
	}
	return out, nil
}
