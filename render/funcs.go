package render

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/shoal-dev/shoal/node"
)

// A service's frontend port, when no tag or var names one, is
// DefaultListenBase + FNV-1a(name) mod ListenSpan: a function of the name
// alone, so it never moves when instances with other ports come and go.
// The range sits below Linux's ephemeral ports (32768 and up).
const (
	DefaultListenBase = 20000
	ListenSpan        = 10000
)

// execState is the per-render state the template functions read and write.
// A Template holds one while it executes, under its lock.
type execState struct {
	data *Data
	used []bool // used[id]: the instance was returned by service/services
	n    int    // number of true entries in used
	// ports maps each frontend port listenPort handed out in this render to
	// its service, so two services can never share a bind.
	ports map[int]string
}

func (st *execState) use(ins []Instance) {
	for _, in := range ins {
		if !st.used[in.id] {
			st.used[in.id] = true
			st.n++
		}
	}
}

// funcMap returns sprig's hermetic functions (no env, no time, no random:
// a render depends on the cluster only) plus shoal's, which read the state
// *cur points to when they run.
func funcMap(cur **execState) template.FuncMap {
	fm := sprig.HermeticTxtFuncMap()
	state := func() *execState { return *cur }

	// service "web" | service "v2.web" | service "web|any": the routable
	// instances (health passing or warning) of a service on alive and
	// suspect members (see Instance.Drain), sorted by node name, then ID;
	// with "tag." in front, only those carrying the tag. After "|", as in
	// consul-template, "any" gives every instance whatever its health, and
	// a comma list of passing, warning, critical and maintenance gives
	// those. An unknown service gives an empty list, not an error:
	// services come and go.
	fm["service"] = func(query string) ([]Instance, error) {
		name, keep, err := parseServiceQuery(query)
		if err != nil {
			return nil, err
		}
		ins := selectInstances(state().data, name, keep)
		state().use(ins)
		return ins, nil
	}

	// services [FILTER]: every service with at least one routable
	// instance on an alive or suspect member, sorted by name, each with
	// those instances. FILTER is "any" or a comma list of health states,
	// as after "|" in service.
	fm["services"] = func(filter ...string) ([]ServiceGroup, error) {
		if len(filter) > 1 {
			return nil, fmt.Errorf("services: want at most one filter, got %q", filter)
		}
		keep := routable
		if len(filter) == 1 {
			var err error
			if keep, err = parseHealthFilter(filter[0]); err != nil {
				return nil, fmt.Errorf("services %q: %w", filter[0], err)
			}
		}
		st := state()
		groups := st.data.services
		if keep != routable {
			groups = filterGroups(st.data.allServices, keep)
		}
		for _, g := range groups {
			st.use(g.Instances)
		}
		return groups, nil
	}

	// members [STATUS] [FILTER...]: members sorted by name.
	//   STATUS is "alive", "suspect", "leaving", "left", "failed" or "any"
	//   (default any).
	//   FILTER is "key=value" (tag equals), "key" (tag present) or "!key"
	//   (tag absent); all filters must hold.
	// members "alive" "role=lb" gives the alive load balancers.
	fm["members"] = func(args ...string) ([]Member, error) {
		return filterMembers(state().data.Members, args)
	}

	// tag KEY MEMBER|INSTANCE: the member's tag value, or "" if unset.
	// Reads well in a pipeline: {{ .Self | tag "zone" }}.
	fm["tag"] = func(key string, v any) (string, error) {
		switch x := v.(type) {
		case Member:
			return x.Tags[key], nil
		case Instance:
			return x.NodeTags[key], nil
		}
		return "", fmt.Errorf("tag %q: want a Member or an Instance, got %T", key, v)
	}

	// listenPort GROUP|NAME: the port a load-balancer frontend for a service
	// listens on. Backends run on other machines on the service's port, and
	// the load balancer may run one of them too, so it cannot simply bind
	// the service port. In order of precedence:
	//   1. the local node's tag "listen.<service>" (change it live with
	//      shoal tags -set listen.web=80),
	//   2. the template's var "listen.<service>",
	//   3. var "listen_base" (default 20000) + FNV-1a(name) mod 10000.
	// Two services that get the same port, or a service on the var
	// stats_port, fail the render with an error naming both.
	fm["listenPort"] = func(v any) (int, error) {
		var name string
		switch x := v.(type) {
		case ServiceGroup:
			name = x.Name
		case string:
			name = x
		default:
			return 0, fmt.Errorf("listenPort: want a service group or name, got %T", v)
		}
		return state().claimPort(name)
	}
	return fm
}

// parseServiceQuery splits "[tag.]name[|filter]".
func parseServiceQuery(q string) (name string, keep healthSet, err error) {
	name, filter, hasFilter := strings.Cut(q, "|")
	keep = routable
	if hasFilter {
		if keep, err = parseHealthFilter(filter); err != nil {
			return "", 0, fmt.Errorf("service %q: %w", q, err)
		}
	}
	return name, keep, nil
}

// parseHealthFilter reads "any" or a comma list of health states.
func parseHealthFilter(f string) (healthSet, error) {
	if f == "any" {
		return anyHealth, nil
	}
	var keep healthSet
	for _, word := range strings.Split(f, ",") {
		h, ok := node.ParseHealth(strings.TrimSpace(word))
		if !ok {
			return 0, fmt.Errorf("health %q is not any, passing, warning, critical or maintenance", word)
		}
		keep |= 1 << h
	}
	return keep, nil
}

// selectInstances returns the instances of service name ("tag.svc"
// selects by tag when no service is called name) whose health is in keep.
func selectInstances(d *Data, name string, keep healthSet) []Instance {
	ins, ok := d.all[name]
	if !ok {
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			tag, svc := name[:i], name[i+1:]
			for _, in := range d.all[svc] {
				if in.HasTag(tag) {
					ins = append(ins, in)
				}
			}
		}
	} else if keep == routable {
		return d.Services[name] // built once per render
	}
	if keep == anyHealth {
		return ins
	}
	return filterInstances(ins, keep)
}

// claimPort resolves name's frontend port and records it for this render.
func (st *execState) claimPort(name string) (int, error) {
	p, err := listenPort(st.data, name)
	if err != nil {
		return 0, err
	}
	if st.ports == nil {
		st.ports = map[int]string{}
		if v := st.data.Vars["stats_port"]; v != "" {
			if sp, err := strconv.Atoi(v); err == nil {
				st.ports[sp] = "the stats page (var stats_port)"
			}
		}
	}
	if other, ok := st.ports[p]; ok && other != name {
		return 0, fmt.Errorf("listenPort %s: port %d is taken by %s; set tag or var listen.%s to another port", name, p, describePortOwner(other), name)
	}
	st.ports[p] = name
	return p, nil
}

func describePortOwner(owner string) string {
	if strings.HasPrefix(owner, "the ") {
		return owner
	}
	return "service " + owner
}

func listenPort(d *Data, name string) (int, error) {
	key := "listen." + name
	for _, src := range []struct{ what, v string }{
		{"tag " + key + " of the local node", d.Self.Tags[key]},
		{"var " + key, d.Vars[key]},
	} {
		if src.v == "" {
			continue
		}
		p, err := strconv.Atoi(src.v)
		if err != nil || p < 1 || p > 65535 {
			return 0, fmt.Errorf("listenPort %s: %s is %q, want a port number", name, src.what, src.v)
		}
		return p, nil
	}
	if _, set := d.Vars["listen_offset"]; set {
		// The old rule (instance port + offset) moved a frontend whenever an
		// instance with a lower port joined; say so rather than ignore it.
		return 0, fmt.Errorf("listenPort %s: var listen_offset is no longer used (frontend ports no longer follow instance ports); use var listen_base or listen.%s", name, name)
	}
	base := DefaultListenBase
	if v := d.Vars["listen_base"]; v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b < 1 || b+ListenSpan-1 > 65535 {
			return 0, fmt.Errorf("listenPort %s: var listen_base is %q, want a number from 1 to %d", name, v, 65535-ListenSpan+1)
		}
		base = b
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return base + int(h.Sum32()%ListenSpan), nil
}

func filterMembers(all []Member, args []string) ([]Member, error) {
	status := "any"
	if len(args) > 0 && !strings.ContainsAny(args[0], "=!") && isStatus(args[0]) {
		status, args = args[0], args[1:]
	}
	type filter struct {
		key, value string
		op         byte // '=' equals, 'h' has, '!' has not
	}
	filters := make([]filter, 0, len(args))
	for _, a := range args {
		if a == "" {
			continue
		}
		switch {
		case strings.HasPrefix(a, "!"):
			filters = append(filters, filter{key: a[1:], op: '!'})
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			filters = append(filters, filter{key: k, value: v, op: '='})
		default:
			filters = append(filters, filter{key: a, op: 'h'})
		}
		if f := filters[len(filters)-1]; f.key == "" {
			return nil, fmt.Errorf("members: filter %q has no tag key", a)
		}
	}
	var out []Member
	for _, m := range all {
		if status != "any" && m.Status != status {
			continue
		}
		ok := true
		for _, f := range filters {
			v, has := m.Tags[f.key]
			switch f.op {
			case '=':
				ok = has && v == f.value
			case 'h':
				ok = has
			case '!':
				ok = !has
			}
			if !ok {
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func isStatus(s string) bool {
	switch s {
	case "any", "alive", "suspect", "leaving", "left", "failed":
		return true
	}
	return false
}
