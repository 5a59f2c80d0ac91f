package render

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/shoal-dev/shoal/node"
)

// Guard only what a template reads.
//
// A member whose tag is unsafe in a config file (guard.go) used to be left
// out of every render, so a tag no template reads (owner="team a") took a
// healthy node out of every load balancer. Now the injection guard applies
// to the tags a template can read, found once per parse from the template's
// syntax tree:
//
//   - .Tags.KEY and .NodeTags.KEY (on ., $var, .Self, a chain), index X.Tags
//     "KEY", tag "KEY" ..., and the keys in members filters ("KEY=v", "KEY",
//     "!KEY") read KEY;
//   - listenPort reads the local node's "listen.*" tags;
//   - any other use of .Tags or .NodeTags (range, with, a variable, index
//     or tag with a computed key, a sprig function) reads every tag.
//
// A member with an unsafe tag the template reads is left out, as before,
// with the same log line. An unsafe tag it does not read is removed from
// that template's data, and the member stays. The removal is what makes
// this safe however the analysis errs: an unsafe value never reaches a
// template, whatever path (toJson .Members, printf of a member) the
// analysis did not name. The analysis only decides between leaving the
// member out and keeping it without the tag.
//
// Tracking reads at execution time instead is not possible with
// text/template: it indexes the Tags map by reflection, with no hook, and a
// value printed whole is formatted by fmt.

// tagReads is the set of member tags a template can read.
type tagReads struct {
	all      bool
	keys     map[string]bool
	prefixes []string
}

// reads reports whether the template can read the tag key.
func (r tagReads) reads(key string) bool {
	if r.all || r.keys[key] {
		return true
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// String is a stable key for the set, to share data between templates.
func (r tagReads) String() string {
	if r.all {
		return "all"
	}
	keys := slices.Sorted(maps.Keys(r.keys))
	return fmt.Sprintf("%q %q", keys, r.prefixes)
}

// tagReadsOf walks every template defined in t.
func tagReadsOf(t *template.Template) tagReads {
	r := &tagReads{keys: map[string]bool{}}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			r.walk(tt.Tree.Root)
		}
	}
	sort.Strings(r.prefixes)
	r.prefixes = slices.Compact(r.prefixes)
	return *r
}

func (r *tagReads) walk(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				r.walk(c)
			}
		}
	case *parse.ActionNode:
		r.walk(n.Pipe)
	case *parse.IfNode:
		r.branch(&n.BranchNode)
	case *parse.RangeNode:
		r.branch(&n.BranchNode)
	case *parse.WithNode:
		r.branch(&n.BranchNode)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			r.walk(n.Pipe)
		}
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				r.command(c)
			}
		}
	case *parse.CommandNode:
		r.command(n)
	case *parse.FieldNode:
		r.fields(n.Ident)
	case *parse.VariableNode:
		r.fields(n.Ident[1:]) // Ident[0] is the variable's name
	case *parse.ChainNode:
		r.walk(n.Node)
		r.fields(n.Field)
	}
}

func (r *tagReads) branch(b *parse.BranchNode) {
	r.walk(b.Pipe)
	r.walk(b.List)
	if b.ElseList != nil {
		r.walk(b.ElseList)
	}
}

// fields notes the tags a field chain reads: the key after Tags or
// NodeTags, or every tag when the chain ends with them.
func (r *tagReads) fields(idents []string) {
	for i, id := range idents {
		if id != "Tags" && id != "NodeTags" {
			continue
		}
		if i+1 < len(idents) {
			r.keys[idents[i+1]] = true
		} else {
			r.all = true
		}
	}
}

// command handles the functions that read a tag by a key argument, and
// walks the arguments of every other command.
func (r *tagReads) command(c *parse.CommandNode) {
	args := c.Args
	fn := ""
	if len(args) > 0 {
		if id, ok := args[0].(*parse.IdentifierNode); ok {
			fn = id.Ident
		}
	}
	switch {
	case fn == "index" && len(args) >= 3 && endsInTags(args[1]):
		key, ok := args[2].(*parse.StringNode)
		if !ok {
			r.all = true
		} else {
			r.keys[key.Text] = true
		}
		r.walkHead(args[1])
		args = args[3:]
	case fn == "tag" && len(args) >= 2:
		key, ok := args[1].(*parse.StringNode)
		if !ok {
			r.all = true
		} else {
			r.keys[key.Text] = true
		}
		args = args[2:]
	case fn == "members":
		for _, a := range args[1:] {
			s, ok := a.(*parse.StringNode)
			if !ok {
				r.all = true
				continue
			}
			k, _, _ := strings.Cut(strings.TrimPrefix(s.Text, "!"), "=")
			r.keys[k] = true // a status word here only guards one key more
		}
		args = nil
	case fn == "listenPort":
		r.prefixes = append(r.prefixes, listenTagPrefix)
	}
	for _, a := range args {
		r.walk(a)
	}
}

// listenTagPrefix starts the local node's tags that listenPort reads.
const listenTagPrefix = "listen."

// endsInTags reports whether n is a field chain ending in Tags or NodeTags.
func endsInTags(n parse.Node) bool {
	var idents []string
	switch n := n.(type) {
	case *parse.FieldNode:
		idents = n.Ident
	case *parse.VariableNode:
		idents = n.Ident[1:]
	case *parse.ChainNode:
		idents = n.Field
	}
	return len(idents) > 0 && (idents[len(idents)-1] == "Tags" || idents[len(idents)-1] == "NodeTags")
}

// walkHead walks what a chain ending in Tags is applied to, without
// counting the final Tags as a read of every tag.
func (r *tagReads) walkHead(n parse.Node) {
	switch n := n.(type) {
	case *parse.FieldNode:
		r.fields(n.Ident[:len(n.Ident)-1])
	case *parse.VariableNode:
		r.fields(n.Ident[1 : len(n.Ident)-1])
	case *parse.ChainNode:
		r.walk(n.Node)
		r.fields(n.Field[:len(n.Field)-1])
	}
}

// withoutUnreadUnsafeTags returns snap with every unsafe tag that reads
// does not cover removed from its member, so that member stays in the
// render. It returns snap itself when there is nothing to remove.
func withoutUnreadUnsafeTags(snap *node.Snapshot, reads tagReads) *node.Snapshot {
	if snap == nil || reads.all {
		return snap
	}
	var out *node.Snapshot
	for i := range snap.Members {
		tags := snap.Members[i].Tags
		var kept map[string]string
		for k, v := range tags {
			if tagProblem(k, v) == "" || reads.reads(k) {
				continue
			}
			if kept == nil {
				kept = maps.Clone(tags)
			}
			delete(kept, k)
		}
		if kept == nil {
			continue
		}
		if out == nil {
			c := *snap
			c.Members = slices.Clone(snap.Members)
			out = &c
		}
		out.Members[i].Tags = kept
	}
	if out == nil {
		return snap
	}
	return out
}

// hasUnsafeTag reports whether any member carries a tag unsafe in a config.
func hasUnsafeTag(snap *node.Snapshot) bool {
	if snap == nil {
		return false
	}
	for i := range snap.Members {
		for k, v := range snap.Members[i].Tags {
			if tagProblem(k, v) != "" {
				return true
			}
		}
	}
	return false
}

// batchData builds the data of one batch's templates from one snapshot:
// one Data per distinct pair of tag reads (when a member carries an unsafe
// tag) and drain setting, shared by the templates that have the same.
type batchData struct {
	snap   *node.Snapshot
	unsafe bool
	built  map[string]*Data
}

func newBatchData(snap *node.Snapshot) *batchData {
	return &batchData{snap: snap, unsafe: hasUnsafeTag(snap), built: map[string]*Data{}}
}

func (b *batchData) forTemplate(ts *tmplState) *Data {
	drain := !ts.cfg.ServeSuspects
	key, snap := fmt.Sprint(drain), b.snap
	if b.unsafe {
		reads := ts.t.tagReads()
		key += " " + reads.String()
		snap = withoutUnreadUnsafeTags(b.snap, reads)
	}
	if d := b.built[key]; d != nil {
		return d
	}
	d := newData(snap, drain)
	b.built[key] = d
	return d
}
