package bind

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/tensor"
)

type fakeSource map[string][]int

func (f fakeSource) Names() []string {
	var n []string
	for k := range f {
		n = append(n, k)
	}
	return n
}
func (f fakeSource) Shape(name string) ([]int, bool) { s, ok := f[name]; return s, ok }
func (f fakeSource) Float32(name string) ([]float32, error) {
	s, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("no %s", name)
	}
	return make([]float32, tensor.Numel(s)), nil
}

type layer struct {
	W     *tensor.Tensor `weights:"w"`
	Extra *tensor.Tensor `weights:"extra,optional"`
}

type model struct {
	Layers []layer `weights:"layers"`
	Inline struct {
		B *tensor.Tensor `weights:"b"`
	} `weights:""`
	Head *tensor.Tensor `weights:"head"`
	note string         // no tag: binding must leave it alone
}

func newModel() *model {
	m := &model{Layers: []layer{{W: tensor.Declare(2, 3), Extra: tensor.Declare(1)}, {W: tensor.Declare(2, 3), Extra: tensor.Declare(1)}}, Head: tensor.Declare(4)}
	m.Inline.B = tensor.Declare(3)
	m.note = "untouched"
	return m
}

func TestBindAll(t *testing.T) {
	src := fakeSource{"p.layers.0.w": {2, 3}, "p.layers.1.w": {2, 3}, "p.layers.1.extra": {1}, "p.b": {3}, "p.emb": {4}}
	m := newModel()
	b := New(src, "test", [][]string{{"p.emb", "p.head"}}, nil)
	b.Bind("p.", m)
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if m.Layers[0].Extra != nil || m.Layers[1].Extra == nil || m.Head.Data == nil || m.Inline.B.Data == nil {
		t.Errorf("optional or tied tensors not bound as expected: %+v", m)
	}
	if m.note != "untouched" {
		t.Errorf("an untagged field became %q", m.note)
	}
}

func TestBindReportsEverything(t *testing.T) {
	src := fakeSource{"p.layers.0.w": {3, 2}, "p.b": {3}, "p.head": {4}, "p.stray": {1}, "q.other": {2}}
	b := New(src, "test", nil, nil)
	b.Bind("p.", newModel())
	err := b.Finish()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"1 missing: p.layers.1.w", "2 unused: p.stray, q.other", "p.layers.0.w has shape [3 2], the config implies [2 3]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if len(e.Missing) != 1 || len(e.Unused) != 2 || len(e.Problems) != 1 {
		t.Errorf("%+v", e)
	}
}

// TestErrorShort: a checkpoint missing thousands of tensors gives a short message (a count
// and the first names) while the error keeps every name.
func TestErrorShort(t *testing.T) {
	m := &model{Layers: make([]layer, 2000)}
	for i := range m.Layers {
		m.Layers[i] = layer{W: tensor.Declare(2), Extra: tensor.Declare(1)}
	}
	m.Inline.B, m.Head = tensor.Declare(1), tensor.Declare(1)
	b := New(fakeSource{}, "empty", nil, nil)
	b.Bind("", m)
	err := b.Finish()
	e, ok := err.(*Error)
	if !ok || len(e.Missing) != 2002 {
		t.Fatalf("error %T with %d missing", err, len(e.Missing))
	}
	if msg := err.Error(); len(msg) > 1000 || !strings.Contains(msg, "2002 missing") || !strings.Contains(msg, "and 1992 more") {
		t.Errorf("message of %d bytes: %.200s", len(msg), msg)
	}
}

type withModule struct {
	Head   *tensor.Tensor `weights:"head"`
	Pooler *struct {
		W *tensor.Tensor `weights:"w"`
	} `weights:"pooler"`
}

// TestPointerModules: a module behind a pointer is walked under its name, and skipped when nil.
func TestPointerModules(t *testing.T) {
	var names []string
	m := &withModule{Head: tensor.Declare(1)}
	Walk("", m, func(name string, _ **tensor.Tensor, _ bool) { names = append(names, name) })
	m.Pooler = &struct {
		W *tensor.Tensor `weights:"w"`
	}{W: tensor.Declare(2)}
	Walk("", m, func(name string, _ **tensor.Tensor, _ bool) { names = append(names, name) })
	if got := strings.Join(names, " "); got != "head head pooler.w" {
		t.Errorf("walked %q", got)
	}
}

// releasingSource is a mapped checkpoint: it records what Release was handed.
type releasingSource struct {
	fakeSource
	released map[int]bool // by length: every tensor here has its own
}

func (r releasingSource) Release(data []float32) { r.released[len(data)] = true }

// TestBindReleasesChecked: a source that can drop its pages gets each tensor back once
// binding has checked it, so that a whole checkpoint is never resident at once.
func TestBindReleasesChecked(t *testing.T) {
	src := releasingSource{fakeSource{"w": {2, 3}, "b": {4}}, map[int]bool{}}
	var m struct {
		W *tensor.Tensor `weights:"w"`
		B *tensor.Tensor `weights:"b"`
	}
	m.W, m.B = tensor.Declare(2, 3), tensor.Declare(4)
	b := New(src, "test", nil, nil)
	b.Bind("", &m)
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if !src.released[6] || !src.released[4] || m.W.Data == nil || m.B.Data == nil {
		t.Errorf("released %v; bound %v %v", src.released, m.W.Data, m.B.Data)
	}
}

// TestErrorLists: each kind of name is listed whole up to maxListed names, counted past it,
// and left out when there is none.
func TestErrorLists(t *testing.T) {
	names := func(n int) []string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("t%d", i))
		}
		return s
	}
	for _, c := range []struct {
		err  Error
		want string
	}{
		{Error{Where: "x", Missing: names(maxListed)}, "bind x: 10 missing: t0, t1, t2, t3, t4, t5, t6, t7, t8, t9"},
		{Error{Where: "x", Unused: names(maxListed + 1)}, "bind x: 11 unused: t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 and 1 more"},
		{Error{Where: "x", Missing: names(1), Problems: []string{"t0 is bad"}}, "bind x: 1 missing: t0; 1 bad: t0 is bad"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

type nested struct {
	Attn struct {
		Q *tensor.Tensor `weights:"q"`
	} `weights:"attn"`
	Inline struct {
		B *tensor.Tensor `weights:"b,optional"`
	} `weights:""`
	Blocks []struct {
		W *tensor.Tensor `weights:"w"`
	} `weights:"blocks"`
	Skipped *tensor.Tensor `weights:"-"`
}

// TestWalkNames: a struct field's tensors are named under its name, an inlined one's under its
// parent's, a slice's under its name and index, and an optional tag says so.
func TestWalkNames(t *testing.T) {
	var m nested
	m.Attn.Q, m.Inline.B = tensor.Declare(1), tensor.Declare(1)
	m.Blocks = make([]struct {
		W *tensor.Tensor `weights:"w"`
	}, 2)
	m.Blocks[0].W, m.Blocks[1].W = tensor.Declare(1), tensor.Declare(1)
	var got []string
	Walk("p.", &m, func(name string, _ **tensor.Tensor, optional bool) {
		got = append(got, fmt.Sprintf("%s/%v", name, optional))
	})
	if want := "p.attn.q/false p.b/true p.blocks.0.w/false p.blocks.1.w/false"; strings.Join(got, " ") != want {
		t.Errorf("walked %q, want %q", strings.Join(got, " "), want)
	}
}

// TestWalkRefuses: what only a programming error gives (not a pointer to a struct, a weights
// tag on a field that holds no tensors, a tensor left undeclared) panics, naming it.
func TestWalkRefuses(t *testing.T) {
	var ints struct {
		N []int `weights:"n"`
	}
	var scalar struct {
		N int `weights:"n"`
	}
	var undeclared struct {
		W *tensor.Tensor `weights:"w"`
	}
	for _, c := range []struct {
		model any
		want  string
	}{
		{nested{}, "bind: Walk needs a pointer to a struct, got bind.nested"},
		{new(int), "bind: Walk needs a pointer to a struct, got *int"},
		{&ints, "bind: field N of struct { N []int \"weights:\\\"n\\\"\" } has a weights tag but type []int"},
		{&scalar, "has a weights tag but type int"},
		{&undeclared, "bind: w is not declared"},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, c.want) {
					t.Errorf("%T: panic %q, want %q", c.model, msg, c.want)
				}
			}()
			Walk("", c.model, func(string, **tensor.Tensor, bool) {})
		}()
	}
}
