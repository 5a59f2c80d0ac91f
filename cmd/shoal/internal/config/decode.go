package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// The config file's decoder. hclsimple and gohcl would do this job, but
// gohcl links hclwrite and through it go-cmp, whose package init every CLI
// call and agent start paid (~1.9 ms). Parsing stays hcl's; this file only
// walks the `hcl:"..."` tags of the file structs, which need far less than
// gohcl offers:
//
//	hcl:"name"          a required attribute
//	hcl:"name,attr"     the same
//	hcl:"name,optional" an attribute that may be left out
//	hcl:"name,block"    a block: a struct (required), a pointer to one
//	                    (at most one), or a slice (any number)
//	hcl:"name,label"    a string field that takes one of the block's labels
//
// There is no catch-all ("remain"): an unknown key is always an error.

// decodeFile parses src, HCL native syntax or HCL's JSON by the extension
// of path (the rule and message hclsimple had), and decodes it into target,
// a pointer to a struct. Every diagnostic carries the file and line.
func decodeFile(path string, src []byte, target any) hcl.Diagnostics {
	var f *hcl.File
	var diags hcl.Diagnostics
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".hcl":
		f, diags = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	case ".json":
		f, diags = json.Parse(src, path)
	default:
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unsupported file format",
			Detail:   fmt.Sprintf("Cannot read from %s: unrecognized file format suffix %q.", path, ext),
		}}
	}
	if diags.HasErrors() {
		return diags
	}
	return decodeBody(f.Body, "", reflect.ValueOf(target).Elem())
}

type fieldKind int

const (
	attrField fieldKind = iota
	blockField
	labelField
)

// hclField is one tagged field of a file struct.
type hclField struct {
	index    int
	name     string
	kind     fieldKind
	optional bool
}

// hclFields reads the hcl tags of the struct type t. A tag this decoder
// does not know is a mistake in shoal's own structs, found by the first
// test that loads a file, so it panics rather than return an error no
// user could act on.
func hclFields(t reflect.Type) []hclField {
	var out []hclField
	for i := 0; i < t.NumField(); i++ {
		tag, ok := t.Field(i).Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		f := hclField{index: i, name: name}
		switch kind {
		case "", "attr":
		case "optional":
			f.optional = true
		case "block":
			f.kind = blockField
		case "label":
			f.kind = labelField
		default:
			panic(fmt.Sprintf("config: %s.%s: hcl tag kind %q is not supported", t, t.Field(i).Name, kind))
		}
		out = append(out, f)
	}
	return out
}

// blockStruct is the struct type a block field holds: T, *T, []T or []*T.
func blockStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: a block field must hold a struct, not %s", t))
	}
	return t
}

// structInfo is what decoding needs of one struct type, worked out once:
// every file decodes into the same few types, and reading their tags again
// for every block was a quarter of the decoder's allocations.
type structInfo struct {
	fields []hclField
	labels []hclField
	schema *hcl.BodySchema
}

var structInfos sync.Map // reflect.Type -> *structInfo

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{fields: hclFields(t), schema: &hcl.BodySchema{}}
	for _, f := range si.fields {
		switch f.kind {
		case attrField:
			si.schema.Attributes = append(si.schema.Attributes, hcl.AttributeSchema{Name: f.name, Required: !f.optional})
		case blockField:
			var names []string
			for _, l := range infoOf(blockStruct(t.Field(f.index).Type)).labels {
				names = append(names, l.name)
			}
			si.schema.Blocks = append(si.schema.Blocks, hcl.BlockHeaderSchema{Type: f.name, LabelNames: names})
		case labelField:
			si.labels = append(si.labels, f)
		}
	}
	structInfos.Store(t, si)
	return si
}

// decodeBody decodes body into the struct v. path is where v sits in the
// file ("", "dns", "service[1].check[0]"), to name a key in an error.
func decodeBody(body hcl.Body, path string, v reflect.Value) hcl.Diagnostics {
	si := infoOf(v.Type())
	content, diags := body.Content(si.schema)
	if content == nil {
		return diags
	}
	blocks := content.Blocks.ByType()
	for _, f := range si.fields {
		key := f.name
		if path != "" {
			key = path + "." + f.name
		}
		switch f.kind {
		case attrField:
			if a := content.Attributes[f.name]; a != nil {
				diags = append(diags, decodeAttr(a, key, v.Field(f.index))...)
			}
		case blockField:
			diags = append(diags, decodeBlocks(blocks[f.name], body, key, v.Field(f.index))...)
		}
	}
	return diags
}

// decodeAttr evaluates a's expression, with no variables or functions, and
// converts the value to dst's type by cty's rules (so 5 fits a string
// field, "5" an int field, and null leaves a pointer nil).
func decodeAttr(a *hcl.Attribute, key string, dst reflect.Value) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	target := dst.Addr().Interface()
	ty, err := gocty.ImpliedType(target)
	if err != nil {
		panic(fmt.Sprintf("config: %s: field type %s has no cty type: %v", key, dst.Type(), err))
	}
	if val, err = convert.Convert(val, ty); err == nil {
		err = gocty.FromCtyValue(val, target)
	}
	if err != nil {
		// Read as "file:line: key: problem", like the checks that follow
		// decoding.
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  key,
			Detail:   err.Error(),
			Subject:  a.Expr.StartRange().Ptr(),
			Context:  a.Expr.Range().Ptr(),
		})
	}
	return diags
}

// decodeBlocks decodes the blocks of one type into dst, a struct, a pointer
// or a slice field; body is the enclosing body, for where a missing block
// belongs.
func decodeBlocks(blocks hcl.Blocks, body hcl.Body, key string, dst reflect.Value) hcl.Diagnostics {
	switch {
	case dst.Kind() == reflect.Slice:
		if len(blocks) == 0 {
			return nil
		}
		s := reflect.MakeSlice(dst.Type(), len(blocks), len(blocks))
		var diags hcl.Diagnostics
		for i, b := range blocks {
			diags = append(diags, decodeBlock(b, fmt.Sprintf("%s[%d]", key, i), s.Index(i))...)
		}
		dst.Set(s)
		return diags
	case len(blocks) > 1:
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", key),
			Detail:   fmt.Sprintf("Only one %s block is allowed. Another was defined at %s.", key, blocks[0].DefRange),
			Subject:  blocks[1].DefRange.Ptr(),
		}}
	case len(blocks) == 1:
		return decodeBlock(blocks[0], key, dst)
	case dst.Kind() == reflect.Pointer:
		return nil
	default:
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Missing %s block", key),
			Detail:   fmt.Sprintf("A %s block is required.", key),
			Subject:  body.MissingItemRange().Ptr(),
		}}
	}
}

// decodeBlock decodes b into v, a struct or a pointer it allocates, and
// sets its label fields.
func decodeBlock(b *hcl.Block, key string, v reflect.Value) hcl.Diagnostics {
	if v.Kind() == reflect.Pointer {
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	diags := decodeBody(b.Body, key, v)
	// hcl has checked the count against the schema; a block with the wrong
	// count already has its diagnostic.
	for i, l := range infoOf(v.Type()).labels {
		if i < len(b.Labels) {
			v.Field(l.index).SetString(b.Labels[i])
		}
	}
	return diags
}
