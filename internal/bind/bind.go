// Package bind fills a model's declared weight tensors from a checkpoint by name.
//
// Layers are plain structs whose fields carry a `weights:"name"` tag. A tagged field is a
// *tensor.Tensor declared with its expected shape and no data (tensor.Declare), a struct whose
// fields are tagged in turn (name becomes a prefix, joined with "."), a pointer to such a
// struct (nil: a module the model does not have, skipped), or a slice of such structs (the
// element index joins the prefix: "layers.0."). The tag option ",optional" lets a
// tensor be absent: the field is then set to nil. An empty name (`weights:""`) inlines a
// struct: its fields are named as if they were the parent's.
//
// A Binder collects every problem of a whole checkpoint (missing tensors, wrong shapes,
// unreadable data, NaN or infinite values, and tensors no model used) and reports them
// together in one *Error.
package bind

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/imagesemantics/blipgo/tensor"
)

// Source is a checkpoint: *safetensors.Checkpoint satisfies it.
type Source interface {
	Names() []string
	Float32(name string) ([]float32, error)
	Shape(name string) ([]int, bool)
}

// Error lists everything that kept a checkpoint from binding.
type Error struct {
	Where    string   // the checkpoint, for the message
	Missing  []string // declared tensors the checkpoint lacks
	Unused   []string // checkpoint tensors no model declared
	Problems []string // wrong shapes and unreadable tensors, one sentence each
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind %s:", e.Where)
	list := func(what string, names []string) {
		if len(names) > maxListed {
			fmt.Fprintf(&b, " %d %s: %s and %d more;", len(names), what, strings.Join(names[:maxListed], ", "), len(names)-maxListed)
		} else if len(names) > 0 {
			fmt.Fprintf(&b, " %d %s: %s;", len(names), what, strings.Join(names, ", "))
		}
	}
	list("missing", e.Missing)
	list("unused", e.Unused)
	list("bad", e.Problems)
	return strings.TrimSuffix(b.String(), ";")
}

// maxListed is how many names of each kind Error's message lists; the fields hold them all.
const maxListed = 10

// Binder binds models from one source.
type Binder struct {
	src   Source
	where string
	pool  *tensor.Pool        // checks each tensor's values
	ties  map[string][]string // name -> its tie group, source first
	used  map[string]bool
	err   Error
}

// New returns a binder over src. Each tie group lists names that hold one shared tensor, the
// source first: a declared name of a group is filled from the first member the checkpoint
// holds, and every member present counts as used. Each tensor's values are checked for NaN
// and infinities with p's workers (nil: on the calling goroutine).
func New(src Source, where string, ties [][]string, p *tensor.Pool) *Binder {
	b := &Binder{src: src, where: where, pool: p, ties: map[string][]string{}, used: map[string]bool{}}
	for _, g := range ties {
		for _, n := range g {
			b.ties[n] = g
		}
	}
	return b
}

// Bind fills the declared tensors of model (a pointer to a struct) under prefix.
func (b *Binder) Bind(prefix string, model any) {
	Walk(prefix, model, func(name string, slot **tensor.Tensor, optional bool) {
		b.fill(name, slot, optional)
	})
}

func (b *Binder) fill(name string, slot **tensor.Tensor, optional bool) {
	from := name
	group := b.ties[name]
	if group != nil {
		from = ""
		for _, n := range group {
			if _, ok := b.src.Shape(n); ok {
				if from == "" {
					from = n
				}
				b.used[n] = true
			}
		}
	}
	shape, ok := b.src.Shape(from)
	if from == "" || !ok {
		if optional {
			*slot = nil
			return
		}
		b.err.Missing = append(b.err.Missing, name)
		return
	}
	b.used[from] = true
	want := (*slot).Shape
	if !sameShape(shape, want) {
		b.err.Problems = append(b.err.Problems, fmt.Sprintf("%s has shape %v, the config implies %v", from, shape, want))
		return
	}
	data, err := b.src.Float32(from)
	if err != nil {
		b.err.Problems = append(b.err.Problems, err.Error())
		return
	}
	if err := b.pool.CheckFinite(from, data); err != nil {
		b.err.Problems = append(b.err.Problems, err.Error())
		return
	}
	if r, ok := b.src.(releaser); ok {
		// Checking read every page of the tensor; a mapped checkpoint lets them go again
		// until the tensor is used (packing reads them back from the page cache), so that
		// binding a whole model does not hold the whole file in memory at once.
		r.Release(data)
	}
	(*slot).Data = data
}

// releaser is a Source whose tensors are views of a file mapping, which Release drops from
// the process' memory (the data stays readable: it is read back from the file when touched).
type releaser interface{ Release(data []float32) }

// Finish reports every problem met, and every tensor of the source no Bind call used.
func (b *Binder) Finish() error {
	for _, n := range b.src.Names() {
		if !b.used[n] {
			b.err.Unused = append(b.err.Unused, n)
		}
	}
	sort.Strings(b.err.Missing)
	sort.Strings(b.err.Unused)
	if len(b.err.Missing)+len(b.err.Unused)+len(b.err.Problems) == 0 {
		return nil
	}
	e := b.err
	e.Where = b.where
	return &e
}

// Walk calls fn for every tensor field declared in model (a pointer to a struct), with its full
// name and whether it is optional. It is how the binder and the tools that write checkpoints
// learn a model's parameters, so the names are written once, in the struct tags.
func Walk(prefix string, model any, fn func(name string, slot **tensor.Tensor, optional bool)) {
	v := reflect.ValueOf(model)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("bind: Walk needs a pointer to a struct, got %T", model))
	}
	walkStruct(prefix, v.Elem(), fn)
}

var tensorPtr = reflect.TypeOf((*tensor.Tensor)(nil))

func walkStruct(prefix string, v reflect.Value, fn func(string, **tensor.Tensor, bool)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag, ok := t.Field(i).Tag.Lookup("weights")
		if !ok || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := v.Field(i)
		switch {
		case f.Type() == tensorPtr:
			if f.IsNil() {
				panic(fmt.Sprintf("bind: %s%s is not declared", prefix, name))
			}
			fn(prefix+name, f.Addr().Interface().(**tensor.Tensor), opts == "optional")
		case f.Kind() == reflect.Struct && name == "":
			walkStruct(prefix, f, fn) // `weights:""` inlines the struct's own names
		case f.Kind() == reflect.Struct:
			walkStruct(prefix+name+".", f, fn)
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct && f.Type() != tensorPtr:
			if !f.IsNil() { // a nil module is one this model does not have
				walkStruct(prefix+name+".", f.Elem(), fn)
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < f.Len(); j++ {
				walkStruct(prefix+name+"."+strconv.Itoa(j)+".", f.Index(j), fn)
			}
		default:
			panic(fmt.Sprintf("bind: field %s of %s has a weights tag but type %s", t.Field(i).Name, t, f.Type()))
		}
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
