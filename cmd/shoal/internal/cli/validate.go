package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"

	"github.com/shoal-dev/shoal/backends"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/agent"
	"github.com/shoal-dev/shoal/cmd/shoal/internal/config"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/render"
)

// sourceArgs collects -config-file and -config-dir in command-line order,
// as the agent's flags, because files apply in that order.
type sourceArgs struct {
	flag string
	args *[]string
}

func (s sourceArgs) String() string { return "" }
func (s sourceArgs) Set(v string) error {
	*s.args = append(*s.args, "-"+s.flag+"="+v)
	return nil
}

// runValidate loads config files as `shoal agent` would, then renders each
// template once against a sample cluster and has its load balancer check
// the result (haproxy -c, nginx -t, the command backend's check), in a
// temporary directory. It binds nothing, writes no destination and reloads
// nothing, so it is safe on a machine whose load balancer is live.
func runValidate(e env, args []string) int {
	fs := newFlags(e, "validate", "[-config-file F]... [-config-dir D]...")
	var sources []string
	fs.Var(sourceArgs{"config-file", &sources}, "config-file", "check this .hcl or .json `file` (repeatable)")
	fs.Var(sourceArgs{"config-dir", &sources}, "config-dir", "check every *.hcl and *.json in this `dir` (repeatable)")
	fs.strayHint = ": name files with -config-file"
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if len(sources) == 0 {
		return fs.usageErr("name at least one -config-file or -config-dir")
	}
	flags, err := config.ParseFlags(sources, e.stderr)
	if err != nil {
		return exitUsage // ParseFlags printed it
	}
	cfg, err := flags.Load()
	if err != nil {
		return fail(e, "validate", err)
	}
	// The agent would refuse this at start; so does validate.
	if err := agent.GossipTrustError(cfg, cfg.EncryptKey != "" || cfg.KeyringFile != ""); err != nil {
		return fail(e, "validate", err)
	}
	fmt.Fprintf(e.stdout, "config: ok (node %s, %d services, %d templates)\n", safe(cfg.NodeName), len(cfg.Services), len(cfg.Templates))
	dir, err := os.MkdirTemp("", "shoal-validate-")
	if err != nil {
		return fail(e, "validate", err)
	}
	defer os.RemoveAll(dir)
	snap := sampleCluster(cfg)
	code := exitOK
	for i, t := range cfg.Templates {
		name := t.Name
		if name == "" {
			name = t.Destination
		}
		n, err := checkTemplate(context.Background(), t, snap, filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			code = fail(e, "validate", fmt.Errorf("template %s: %w", name, err))
			continue
		}
		fmt.Fprintf(e.stdout, "template %s: ok (%s, %d backends from the sample cluster)\n", safe(name), safe(t.Backend.Kind), n)
	}
	return code
}

// checkTemplate renders t from snap into a file under dir and validates it
// with t's backend. It returns the number of backends rendered.
func checkTemplate(ctx context.Context, t config.Template, snap *node.Snapshot, dir string) (int, error) {
	tmpl, err := render.ParseTemplate(t.Source)
	if err != nil {
		return 0, err
	}
	data := render.NewData(snap)
	data.Vars = t.Vars
	if data.Vars == nil {
		data.Vars = map[string]string{}
	}
	content, n, err := tmpl.Execute(data)
	if err != nil {
		return 0, fmt.Errorf("render: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	// The candidate keeps the destination's name: some load balancers
	// name the file in their messages.
	path := filepath.Join(dir, filepath.Base(t.Destination))
	if err := os.WriteFile(path, content, 0o600); err != nil {
		return 0, err
	}
	b, err := backends.New(t.Backend)
	if err != nil {
		return 0, err
	}
	if err := b.Validate(ctx, path); err != nil {
		return 0, fmt.Errorf("validate: %w", err)
	}
	return n, nil
}

// sampleCluster is the cluster a template is checked against: this node
// as configured, and two alive members that offer this node's services
// and a "web" service, so every service block of a template renders with
// instances.
func sampleCluster(cfg config.Config) *node.Snapshot {
	svcs := append([]node.Service{{Name: "web", Port: 8080, Tags: []string{"v2"}, Weight: 10}}, cfg.Services...)
	self := node.Member{Name: cfg.NodeName, Addr: sampleAddr(cfg.AdvertiseAddr, cfg.BindAddr), Port: 7946,
		Tags: cfg.Tags, Services: cfg.Services, Status: node.StatusAlive}
	snap := &node.Snapshot{Self: cfg.NodeName, Version: 1, Members: []node.Member{self}}
	for i, ip := range []string{"192.0.2.11", "192.0.2.12"} {
		name := fmt.Sprintf("sample-%d", i+1)
		if name == cfg.NodeName {
			name += "-other"
		}
		snap.Members = append(snap.Members, node.Member{Name: name, Addr: net.ParseIP(ip), Port: 7946,
			Tags: map[string]string{}, Services: dedupe(svcs), Status: node.StatusAlive})
	}
	sort.Slice(snap.Members, func(i, j int) bool { return snap.Members[i].Name < snap.Members[j].Name })
	return snap
}

// sampleAddr is the address this node would advertise, or a documentation
// address when it binds to the wildcard.
func sampleAddr(addrs ...string) net.IP {
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && !ip.IsUnspecified() {
			return ip
		}
	}
	return net.ParseIP("192.0.2.10")
}

// dedupe keeps the last service of each name: a configured service
// replaces the sample one of the same name.
func dedupe(svcs []node.Service) []node.Service {
	idx := map[string]int{}
	var out []node.Service
	for _, s := range svcs {
		if i, ok := idx[s.Name]; ok {
			out[i] = s
			continue
		}
		idx[s.Name] = len(out)
		out = append(out, s)
	}
	return out
}
