package bert

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/panics"
	"github.com/imagesemantics/blipgo/tensor"
)

// TestStepBytes: a step reads every layer's weights but the cross-attention's keys and values
// (each weight and bias in float32 before Prepare), the source's cached keys and values, and
// the self-attention cache with the new token's keys and values.
func TestStepBytes(t *testing.T) {
	d := randomDecoder(t)
	c := d.Config
	h, in := int64(c.HiddenSize), int64(c.IntermediateSize)
	weights := 4 * (6*(h*h+h) + 2*h*in + in + h) // q, k, v, o; cross q and o; the two of the feed-forward
	for _, s := range []struct {
		pos, n int
		kv     tensor.Precision
	}{{0, 0, tensor.Float32}, {3, 7, tensor.Float32}, {5, 577, tensor.BFloat16}} {
		want := int64(c.NumHiddenLayers) * (weights + s.kv.KVBytes()*h*2*int64(s.n) + 4*h*2*int64(s.pos+1))
		if got := d.StepBytes(s.pos, s.n, s.kv); got != want {
			t.Errorf("%d cached, %d states, %s: %d bytes, want %d", s.pos, s.n, s.kv, got, want)
		}
	}
}

// TestForwardTokens: ids 0 to vocab_size-1 are tokens; -1 and vocab_size are refused naming
// the id; and a batch without a cache for each sequence is a programming error.
func TestForwardTokens(t *testing.T) {
	d := randomDecoder(t)
	p := tensor.NewPool(1)
	cross := d.Cross(p, tensor.New(3, d.Config.EncoderHiddenSize), tensor.Float32)
	h := tensor.New(2, d.Config.HiddenSize)
	if err := d.Forward(context.Background(), p, h, [][]int{{0, d.Config.VocabSize - 1}}, []*Cache{d.NewCache(4)}, []*Cross{cross}, nil); err != nil {
		t.Errorf("the first and last ids: %v", err)
	}
	for _, id := range []int{-1, d.Config.VocabSize} {
		err := d.Forward(context.Background(), p, tensor.New(1, d.Config.HiddenSize), [][]int{{id}}, []*Cache{d.NewCache(4)}, []*Cross{cross}, nil)
		if want := fmt.Sprintf("token id %d outside", id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("id %d: error %v", id, err)
		}
	}
	for name, run := range map[string]func(){
		"two sequences, one cache": func() {
			d.Forward(context.Background(), p, h, [][]int{{1}, {1}}, []*Cache{d.NewCache(4)}, nil, nil)
		},
		"one sequence, two sources": func() {
			d.Forward(context.Background(), p, h, [][]int{{1}}, []*Cache{d.NewCache(4)}, []*Cross{cross, cross}, nil)
		},
	} {
		if !panics.With(run, "one cache (and one Cross, or none) per sequence") {
			t.Errorf("%s: no panic", name)
		}
	}
}

// TestEmbeddingsBounds: the embeddings take every id of the table at every position of the
// position table, and panic on an id or a position outside them (the model checks ids and
// lengths before: this is the last guard).
func TestEmbeddingsBounds(t *testing.T) {
	d := randomDecoder(t)
	p := tensor.NewPool(1)
	e, c := &d.Embeddings, d.Config
	dst := tensor.New(1, c.HiddenSize)
	if panics.With(func() { e.Forward(p, dst, []int{c.VocabSize - 1}, c.MaxPositionEmbeddings-1) }, "") || panics.With(func() { e.Forward(p, dst, []int{0}, 0) }, "") {
		t.Error("the tables' last row or first refused")
	}
	for _, s := range []struct{ id, pos int }{{-1, 0}, {c.VocabSize, 0}, {0, c.MaxPositionEmbeddings}} {
		if !panics.With(func() { e.Forward(p, dst, []int{s.id}, s.pos) }, fmt.Sprintf("bert: token %d at position %d outside the tables", s.id, s.pos)) {
			t.Errorf("id %d at position %d taken", s.id, s.pos)
		}
	}
}

// TestTieTo: the word embeddings read their rows from a linear layer only when it holds them
// exactly (same shape, float32 rows readable), giving up their table; otherwise they keep it.
func TestTieTo(t *testing.T) {
	untied := randomDecoder(t)
	c := untied.Config
	p := tensor.NewPool(1)
	want := tensor.New(1, c.HiddenSize) // row 7 at position 0, from the embeddings' own table
	untied.Embeddings.Forward(p, want, []int{7}, 0)
	for _, s := range []struct {
		name    string
		out, in int
		ties    bool
	}{
		{"same shape", c.VocabSize, c.HiddenSize, true},
		{"fewer rows", c.VocabSize - 1, c.HiddenSize, false},
		{"narrower", c.VocabSize, c.HiddenSize - 1, false},
	} {
		e := randomDecoder(t).Embeddings
		l := tensor.NewLinear(s.in, s.out)
		l.Weight.Data = make([]float32, s.out*s.in)
		copy(l.Weight.Data, e.WordEmbeddings.Weight.Data)
		l.Bias.Data = make([]float32, s.out)
		l.Prepare(p, nil, tensor.Float32, nil)
		got := e.TieTo(&l)
		if (got != nil) != s.ties || (e.WordEmbeddings.Weight.Data == nil) != s.ties {
			t.Errorf("%s: tied %v, want %v", s.name, got != nil, s.ties)
			continue
		}
		dst := tensor.New(1, c.HiddenSize)
		e.Forward(p, dst, []int{7}, 0)
		for i := range want.Data {
			if dst.Data[i] != want.Data[i] {
				t.Fatalf("%s: row 7 [%d] %v, untied %v", s.name, i, dst.Data[i], want.Data[i])
			}
		}
	}
}
