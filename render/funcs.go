package render

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// DefaultListenOffset is added to a service's port to derive the port its
// load-balancer frontend listens on, when nothing else sets it (see
// listenPort).
const DefaultListenOffset = 10000

// execState is the per-render state the template functions read and write.
// A Template holds one while it executes, under its lock.
type execState struct {
	data *Data
	used []bool // used[id]: the instance was returned by service/services
	n    int    // number of true entries in used
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

	// service "web" | service "v2.web": alive instances of a service, sorted
	// by node name; with "tag." in front, only those carrying the tag. An
	// unknown service gives an empty list, not an error: services come and go.
	fm["service"] = func(name string) []Instance {
		st := state()
		ins, ok := st.data.Services[name]
		if !ok {
			if i := strings.LastIndexByte(name, '.'); i > 0 {
				tag, svc := name[:i], name[i+1:]
				for _, in := range st.data.Services[svc] {
					if in.HasTag(tag) {
						ins = append(ins, in)
					}
				}
			}
		}
		st.use(ins)
		return ins
	}

	// services: every service with at least one alive instance, sorted by
	// name, each with its instances.
	fm["services"] = func() []ServiceGroup {
		st := state()
		for _, g := range st.data.services {
			st.use(g.Instances)
		}
		return st.data.services
	}

	// members [STATUS] [FILTER...]: members sorted by name.
	//   STATUS is "alive", "leaving", "left", "failed" or "any" (default any).
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
	//   3. the service port plus the var "listen_offset" (default 10000).
	fm["listenPort"] = func(v any) (int, error) {
		st := state()
		var name string
		var port int
		switch x := v.(type) {
		case ServiceGroup:
			name, port = x.Name, int(x.Port)
		case string:
			name = x
			if ins := st.data.Services[x]; len(ins) > 0 {
				port = int(ins[0].Port)
			}
		default:
			return 0, fmt.Errorf("listenPort: want a service group or name, got %T", v)
		}
		return listenPort(st.data, name, port)
	}
	return fm
}

func listenPort(d *Data, name string, port int) (int, error) {
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
	offset := DefaultListenOffset
	if v := d.Vars["listen_offset"]; v != "" {
		o, err := strconv.Atoi(v)
		if err != nil || o < 0 {
			return 0, fmt.Errorf("listenPort %s: var listen_offset is %q, want a number", name, v)
		}
		offset = o
	}
	if port == 0 {
		return 0, fmt.Errorf("listenPort %s: no instances and no tag or var %s", name, key)
	}
	if p := port + offset; p <= 65535 {
		return p, nil
	}
	return 0, fmt.Errorf("listenPort %s: port %d + offset %d is over 65535; set tag or var %s", name, port, offset, key)
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
	case "any", "alive", "leaving", "left", "failed":
		return true
	}
	return false
}
