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
