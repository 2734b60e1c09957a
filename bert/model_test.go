package bert

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/tensor"
)

// randomDecoder builds a small decoder with random weights through the binder's walk.
func randomDecoder(t *testing.T) *Model { return randomModel(t, true) }

// randomModel builds a small text model with random weights, causal or bidirectional.
func randomModel(t *testing.T, causal bool) *Model {
	c := DefaultConfig()
	c.VocabSize, c.HiddenSize, c.EncoderHiddenSize, c.IntermediateSize = 50, 16, 12, 24
	c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings = 2, 4, 20
	c.BosTokenID, c.SepTokenID = 1, 2
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := New(c, Options{Causal: causal, Pooler: !causal})
	r := rand.New(rand.NewPCG(1, 2))
	bind.Walk("", d, func(_ string, slot **tensor.Tensor, _ bool) {
		(*slot).Data = make([]float32, (*slot).Len())
		for i := range (*slot).Data {
			(*slot).Data[i] = float32(r.NormFloat64() * 0.3)
		}
	})
	return d
}

// TestCacheMatchesFullPass: feeding tokens one at a time through the KV cache gives the hidden
// states of a single pass over the whole sequence, and sequences batched together give what
// they give alone; with the image's keys and values packed in float32 and as bfloat16 pairs.
func TestCacheMatchesFullPass(t *testing.T) {
	for _, prec := range []tensor.Precision{tensor.Float32, tensor.BFloat16} {
		t.Run(prec.String(), func(t *testing.T) { testCacheMatchesFullPass(t, prec) })
	}
}

func testCacheMatchesFullPass(t *testing.T, prec tensor.Precision) {
	d := randomDecoder(t)
	p := tensor.NewPool(2)
	r := rand.New(rand.NewPCG(3, 4))
	img := tensor.New(7, d.Config.EncoderHiddenSize)
	for i := range img.Data {
		img.Data[i] = float32(r.NormFloat64())
	}
	cross := d.Cross(p, img, prec)
	ids := []int{1, 5, 9, 33, 12, 7}
	full := tensor.New(len(ids), d.Config.HiddenSize)
	if err := d.Forward(context.Background(), p, full, [][]int{ids}, []*Cache{d.NewCache(10)}, []*Cross{cross}, nil); err != nil {
		t.Fatal(err)
	}
	// A second sequence rides along in the batch with different tokens; alone, in one pass,
	// it gives otherFull.
	otherIDs := make([]int, len(ids))
	for i, id := range ids {
		otherIDs[i] = (id + 3) % 50
	}
	otherFull := tensor.New(len(ids), d.Config.HiddenSize)
	if err := d.Forward(context.Background(), p, otherFull, [][]int{otherIDs}, []*Cache{d.NewCache(10)}, []*Cross{cross}, nil); err != nil {
		t.Fatal(err)
	}
	cache, other := d.NewCache(10), d.NewCache(10)
	ws := new(Workspace) // reused by every step, as generation does
	for i, id := range ids {
		step := tensor.New(2, d.Config.HiddenSize)
		if err := d.Forward(context.Background(), p, step, [][]int{{id}, {otherIDs[i]}}, []*Cache{cache, other}, []*Cross{cross, cross}, ws); err != nil {
			t.Fatal(err)
		}
		for s, want := range []*tensor.Tensor{full, otherFull} {
			for j, v := range step.Row(s) {
				if w := want.Row(i)[j]; math.Abs(float64(v-w)) > 1e-5 {
					t.Fatalf("sequence %d token %d dim %d: incremental %v, full pass %v", s, i, j, v, w)
				}
			}
		}
	}
	if cache.Len != len(ids) {
		t.Errorf("cache holds %d tokens, want %d", cache.Len, len(ids))
	}
}

func TestForwardLimits(t *testing.T) {
	d := randomDecoder(t)
	p := tensor.NewPool(1)
	cross := d.Cross(p, tensor.New(3, d.Config.EncoderHiddenSize), tensor.Float32)
	h := tensor.New(1, d.Config.HiddenSize)
	if err := d.Forward(context.Background(), p, h, [][]int{{50}}, []*Cache{d.NewCache(4)}, []*Cross{cross}, nil); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
	c := d.NewCache(2)
	for i := 0; i < 2; i++ {
		if err := d.Forward(context.Background(), p, h, [][]int{{1}}, []*Cache{c}, []*Cross{cross}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Forward(context.Background(), p, h, [][]int{{1}}, []*Cache{c}, []*Cross{cross}, nil); err == nil {
		t.Error("cache overflow accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Forward(ctx, p, h, [][]int{{1}}, []*Cache{d.NewCache(4)}, []*Cross{cross}, nil); err == nil {
		t.Error("cancelled context ignored")
	}
}

// TestEncodeAttention: a bidirectional model's first position sees the tokens after it, a
// causal one's does not; Encode runs each sequence at its own length (without encoder states
// too), and equals Forward over the same sequence.
func TestEncodeAttention(t *testing.T) {
	p := tensor.NewPool(2)
	ctx := context.Background()
	for _, causal := range []bool{false, true} {
		m := randomModel(t, causal)
		a, b := []int{1, 5, 9, 33}, []int{1, 5, 9, 34, 20, 11}
		out, err := m.Encode(ctx, p, [][]int{a, b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Rows() != 4 || out[1].Rows() != 6 {
			t.Fatalf("rows %d and %d", out[0].Rows(), out[1].Rows())
		}
		full := tensor.New(len(a), m.Config.HiddenSize)
		if err := m.Forward(ctx, p, full, [][]int{a}, []*Cache{m.NewCache(len(a))}, nil, nil); err != nil {
			t.Fatal(err)
		}
		for i, v := range full.Data {
			if out[0].Data[i] != v {
				t.Fatalf("causal %v: Encode %v, Forward %v at %d", causal, out[0].Data[i], v, i)
			}
		}
		same := true
		for j, v := range out[0].Row(0) {
			same = same && math.Abs(float64(v-out[1].Row(0)[j])) < 1e-6
		}
		if same != causal {
			t.Errorf("causal %v: first position unchanged by later tokens: %v", causal, same)
		}
	}
	if _, err := randomModel(t, false).Encode(ctx, p, [][]int{{}}, nil); err == nil {
		t.Error("empty sequence accepted")
	}
}

// TestPooler: the pooler is tanh(dense(first token)), and its weights are declared only when
// asked for.
func TestPooler(t *testing.T) {
	m := randomModel(t, false)
	if New(m.Config, Options{}).Pooler != nil {
		t.Fatal("pooler declared without Options.Pooler")
	}
	p := tensor.NewPool(1)
	out, err := m.Encode(context.Background(), p, [][]int{{1, 7, 9}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Config.HiddenSize
	got := make([]float32, h)
	m.Pooler.Forward(p, got, out[0])
	w, b := m.Pooler.Dense.Weight.Data, m.Pooler.Dense.Bias.Data
	for i := 0; i < h; i++ {
		sum := float64(b[i])
		for j := 0; j < h; j++ {
			sum += float64(w[i*h+j]) * float64(out[0].Row(0)[j])
		}
		if want := math.Tanh(sum); math.Abs(float64(got[i])-want) > 1e-5 {
			t.Fatalf("pooled[%d] = %v, want %v", i, got[i], want)
		}
	}
}

// TestForwardUnequalLengths: sequences of different lengths and cache positions in one call
// give what each gives alone (no panic).
func TestForwardUnequalLengths(t *testing.T) {
	d := randomDecoder(t)
	p := tensor.NewPool(2)
	ctx := context.Background()
	cross := d.Cross(p, tensor.New(3, d.Config.EncoderHiddenSize), tensor.Float32)
	a, b := []int{1, 5, 9}, []int{1, 7}
	h := d.Config.HiddenSize
	both := tensor.New(5, h)
	if err := d.Forward(ctx, p, both, [][]int{a, b}, []*Cache{d.NewCache(8), d.NewCache(8)}, []*Cross{cross, cross}, nil); err != nil {
		t.Fatal(err)
	}
	for i, seq := range [][]int{a, b} {
		alone := tensor.New(len(seq), h)
		if err := d.Forward(ctx, p, alone, [][]int{seq}, []*Cache{d.NewCache(8)}, []*Cross{cross}, nil); err != nil {
			t.Fatal(err)
		}
		off := []int{0, 3}[i]
		for j, v := range alone.Data {
			if both.Data[off*h+j] != v {
				t.Fatalf("sequence %d differs at %d", i, j)
			}
		}
	}
}
