package bert

import (
	"context"
	"fmt"
	"math"

	"github.com/imagesemantics/blipgo/tensor"
)

// Layer is one text layer (post-norm):
//
//	x = LayerNorm(x + selfattn(x))           causal (a decoder) or bidirectional (an encoder)
//	x = LayerNorm(x + crossattn(x, states))  when the call has encoder states
//	x = LayerNorm(x + W2·gelu(W1·x))
type Layer struct {
	Attention      Attention   `weights:"attention"`
	CrossAttention Attention   `weights:"crossattention"`
	FeedForward    FeedForward `weights:""`
}

// Model is BlipTextModel: embeddings, then layers of self-attention, cross-attention to encoder
// states (an image's embeddings, or a question's) and a feed-forward block. Captioning and
// VQA's answer decoder use it causal with an LMHead on top; VQA's question encoder and ITM's
// text encoder use it bidirectional. Its weights are named as under "text_encoder." or
// "text_decoder.bert." in a BLIP checkpoint.
type Model struct {
	Config     Config
	Embeddings Embeddings `weights:"embeddings"`
	Layers     []Layer    `weights:"encoder.layer"`
	// Pooler is BlipTextPooler, declared with Options.Pooler (BLIP's captioning, question
	// answering and matching classes build their text models without one).
	Pooler *Pooler `weights:"pooler"`
	causal bool
}

// Options select the form of a text model, as BlipTextModel's arguments do.
type Options struct {
	Causal bool // causal self-attention (a decoder), else bidirectional (an encoder)
	Pooler bool // add_pooling_layer
}

// Pooler maps the first token's hidden state to tanh(dense(x)), [H].
type Pooler struct {
	Dense tensor.Linear `weights:"dense"`
}

// Forward writes dst [H] from hidden states [T, H] (their first row).
func (pl *Pooler) Forward(p *tensor.Pool, dst []float32, hidden *tensor.Tensor) {
	out := tensor.FromData(dst, 1, len(dst))
	pl.Dense.Forward(p, out, tensor.FromData(hidden.Row(0), 1, hidden.Cols()))
	for i, v := range dst {
		dst[i] = float32(math.Tanh(float64(v)))
	}
}

// New declares a text model of the given configuration and form, for a weight binder to
// fill.
func New(c Config, o Options) *Model {
	m := &Model{Config: c, Embeddings: newEmbeddings(c), Layers: make([]Layer, c.NumHiddenLayers), causal: o.Causal}
	if o.Pooler {
		m.Pooler = &Pooler{Dense: tensor.NewLinear(c.HiddenSize, c.HiddenSize)}
	}
	causal := o.Causal
	for i := range m.Layers {
		m.Layers[i] = Layer{
			Attention:      newAttention(c, c.HiddenSize, causal),
			CrossAttention: newAttention(c, c.EncoderHiddenSize, false),
			FeedForward:    newFeedForward(c),
		}
	}
	return m
}

// Causal reports whether self-attention is causal (a decoder).
func (m *Model) Causal() bool { return m.causal }

// Prepare packs every linear layer's weights for the matrix-product kernel; done receives each
// unpacked weight the model no longer references.
func (m *Model) Prepare(p *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, a := range []*Attention{&l.Attention, &l.CrossAttention} {
			for _, lin := range []*tensor.Linear{&a.Self.Query, &a.Self.Key, &a.Self.Value, &a.Output.Dense} {
				lin.Prepare(p, arena, prec, done)
			}
		}
		l.FeedForward.Intermediate.Dense.Prepare(p, arena, prec, done)
		l.FeedForward.Output.Dense.Prepare(p, arena, prec, done)
	}
	if m.Pooler != nil {
		m.Pooler.Dense.Prepare(p, arena, prec, done)
	}
}

// StepBytes is what one decoder step of one sequence reads from memory in the layers, with
// pos tokens already in its cache and n encoder states: the weights of every layer but the
// cross-attention keys and values (those run once per source, in Cross), the source's cached
// cross-attention keys and values (packed by Cross for kv) and the self-attention cache.
// Decode steps are bound by it (with the LM head's Bytes): divided by a step's time it is the
// memory bandwidth reached.
func (m *Model) StepBytes(pos, n int, kv tensor.Precision) int64 {
	h := int64(m.Config.HiddenSize)
	var b int64
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, lin := range []*tensor.Linear{
			&l.Attention.Self.Query, &l.Attention.Self.Key, &l.Attention.Self.Value, &l.Attention.Output.Dense,
			&l.CrossAttention.Self.Query, &l.CrossAttention.Output.Dense,
			&l.FeedForward.Intermediate.Dense, &l.FeedForward.Output.Dense,
		} {
			b += lin.Bytes()
		}
		b += kv.KVBytes() * h * 2 * int64(n) // cross K/V
		b += 4 * h * 2 * (int64(pos) + 1)    // self K/V, including the new token
	}
	return b
}

// Cross holds the cross-attention keys and values of one image for every layer, packed per
// head: computed once per image and shared by every sequence decoding it.
type Cross struct {
	KV []*tensor.KV
	N  int
}

// Cross projects encoder states [N, E] (an image's embeddings, a question's hidden states)
// into every layer's cross-attention keys and values, packed for attention in prec
// (tensor.Attention.PackKV: under BFloat16, bfloat16 pairs, which halve what every decode
// step reads of them).
func (d *Model) Cross(p *tensor.Pool, image *tensor.Tensor, prec tensor.Precision) *Cross {
	n, h := image.Rows(), d.Config.HiddenSize
	x := &Cross{N: n}
	k, v := tensor.New(n, h), tensor.New(n, h)
	for i := range d.Layers {
		ca := &d.Layers[i].CrossAttention
		ca.Self.Key.Forward(p, k, image)
		ca.Self.Value.Forward(p, v, image)
		x.KV = append(x.KV, ca.attn.PackKV(p, prec, tensor.Heads{Data: k.Data, Stride: h}, tensor.Heads{Data: v.Data, Stride: h}, n))
	}
	return x
}

// Cache is the self-attention key/value cache of one sequence: for every layer, the keys and
// values of the Len tokens seen so far, packed per head where they stay as the sequence grows
// (tensor.Attention.NewKVCache).
type Cache struct {
	Len int
	KV  []*tensor.KV // per layer
}

// NewCache returns an empty cache for up to capacity tokens.
func (d *Model) NewCache(capacity int) *Cache {
	c := &Cache{}
	for i := range d.Layers {
		c.KV = append(c.KV, d.Layers[i].Attention.attn.NewKVCache(capacity))
	}
	return c
}

// CopyFrom makes c a copy of o (same capacity), for beam search reordering.
func (c *Cache) CopyFrom(o *Cache) {
	c.Len = o.Len
	for i, kv := range c.KV {
		kv.CopyFrom(o.KV[i])
	}
}

// Workspace holds the activations of decoder passes, reused from step to step and layer to
// layer; it grows to the largest pass it has served. A Workspace serves one caller at a time.
type Workspace struct {
	buf []float32
}

// take returns n floats of the workspace starting at *off, advancing it.
func (w *Workspace) take(off *int, n int) []float32 {
	s := w.buf[*off : *off+n]
	*off += n
	return s
}

// Forward runs T new tokens through the model for each of B sequences: ids is [B][T], caches
// and crosses hold each sequence's state (sequences may share a Cross; crosses nil skips
// cross-attention, as transformers does without encoder states). It appends the new keys and
// values to the caches and writes the last layer's hidden states into hidden [B*T, H],
// sequence-major ([ΣT, H] when the sequences' T differ: sequences of different lengths or cache
// positions run one at a time). ws may be nil (buffers are then allocated for this call).
func (d *Model) Forward(ctx context.Context, p *tensor.Pool, hidden *tensor.Tensor, ids [][]int, caches []*Cache, crosses []*Cross, ws *Workspace) error {
	c := d.Config
	if len(caches) != len(ids) || (crosses != nil && len(crosses) != len(ids)) {
		panic("bert: one cache (and one Cross, or none) per sequence")
	}
	b, t, h := len(ids), len(ids[0]), c.HiddenSize
	pos0 := caches[0].Len
	for s := range ids {
		if len(ids[s]) != t || caches[s].Len != pos0 {
			// Sequences at different lengths or positions run one at a time, each in its
			// own rows of hidden.
			return d.forwardEach(ctx, p, hidden, ids, caches, crosses, ws)
		}
	}
	if pos0+t > c.MaxPositionEmbeddings {
		return fmt.Errorf("bert: sequence of %d tokens exceeds max_position_embeddings %d", pos0+t, c.MaxPositionEmbeddings)
	}
	if capacity := caches[0].KV[0].Capacity(); pos0+t > capacity {
		return fmt.Errorf("bert: sequence of %d tokens exceeds the cache capacity %d", pos0+t, capacity)
	}
	for s := range ids {
		for _, id := range ids[s] {
			if id < 0 || id >= c.VocabSize {
				return fmt.Errorf("bert: token id %d outside the vocabulary of %d", id, c.VocabSize)
			}
		}
	}
	x := hidden
	for s := range ids {
		d.Embeddings.Forward(p, x.SliceRows(s*t, (s+1)*t), ids[s], pos0)
	}
	m := b * t
	maxKeys := pos0 + t
	for _, cr := range crosses {
		maxKeys = max(maxKeys, cr.N)
	}
	if ws == nil {
		ws = new(Workspace)
	}
	nScratch := d.Layers[0].Attention.attn.ScratchSizeKV(p, t, maxKeys)
	if need := 4*m*h + m*c.IntermediateSize + nScratch; len(ws.buf) < need {
		ws.buf = make([]float32, need)
	}
	off := 0
	mat := func(cols int) *tensor.Tensor { return tensor.FromData(ws.take(&off, m*cols), m, cols) }
	q, k, v, ctxOut := mat(h), mat(h), mat(h), mat(h)
	inter := mat(c.IntermediateSize)
	scratch := ws.take(&off, nScratch)
	for li := range d.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := &d.Layers[li]
		// Causal self-attention over the cache plus the new tokens.
		sa := &l.Attention
		sa.Self.Query.Forward(p, q, x)
		sa.Self.Key.Forward(p, k, x)
		sa.Self.Value.Forward(p, v, x)
		for s := range ids {
			kv := caches[s].KV[li]
			sa.attn.Put(p, kv, pos0, tensor.Heads{Data: k.Data[s*t*h:], Stride: h}, tensor.Heads{Data: v.Data[s*t*h:], Stride: h}, t)
			sa.attn.ForwardKV(p,
				tensor.Heads{Data: ctxOut.Data[s*t*h:], Stride: h},
				tensor.Heads{Data: q.Data[s*t*h:], Stride: h},
				kv, t, scratch)
		}
		sa.Output.Forward(p, x, ctxOut)
		// Cross-attention to the encoder states.
		if crosses != nil {
			ca := &l.CrossAttention
			ca.Self.Query.Forward(p, q, x)
			for s := range ids {
				ca.attn.ForwardKV(p,
					tensor.Heads{Data: ctxOut.Data[s*t*h:], Stride: h},
					tensor.Heads{Data: q.Data[s*t*h:], Stride: h},
					crosses[s].KV[li], t, scratch)
			}
			ca.Output.Forward(p, x, ctxOut)
		}
		// Feed-forward.
		ff := &l.FeedForward
		ff.Intermediate.Dense.ForwardGELU(p, inter, x)
		ff.Output.Forward(p, x, inter)
	}
	for s := range caches {
		caches[s].Len = pos0 + t
	}
	return nil
}

// forwardEach is Forward for sequences of different lengths or cache positions: each runs
// alone into its rows of hidden [ΣT, H].
func (d *Model) forwardEach(ctx context.Context, p *tensor.Pool, hidden *tensor.Tensor, ids [][]int, caches []*Cache, crosses []*Cross, ws *Workspace) error {
	off := 0
	for s := range ids {
		var xs []*Cross
		if crosses != nil {
			xs = crosses[s : s+1]
		}
		t := len(ids[s])
		if t == 0 {
			return fmt.Errorf("bert: sequence %d has no new token", s)
		}
		if err := d.Forward(ctx, p, hidden.SliceRows(off, off+t), ids[s:s+1], caches[s:s+1], xs, ws); err != nil {
			return err
		}
		off += t
	}
	return nil
}

// Encode runs whole sequences of any lengths through the model, each alone (so a sequence
// attends only to its own tokens: the key-padding mask of a padded batch), cross-attending to
// crosses[i] (nil: none). It returns each sequence's hidden states [len(ids[i]), H].
func (d *Model) Encode(ctx context.Context, p *tensor.Pool, ids [][]int, crosses []*Cross) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(ids))
	var ws Workspace
	for i, seq := range ids {
		if len(seq) == 0 {
			return nil, fmt.Errorf("bert: sequence %d is empty", i)
		}
		var xs []*Cross
		if crosses != nil {
			xs = crosses[i : i+1]
		}
		out[i] = tensor.New(len(seq), d.Config.HiddenSize)
		if err := d.Forward(ctx, p, out[i], [][]int{seq}, []*Cache{d.NewCache(len(seq))}, xs, &ws); err != nil {
			return nil, err
		}
	}
	return out, nil
}
