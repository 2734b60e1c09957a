package bert

import (
	"context"
	"fmt"

	"github.com/imagesemantics/blipgo/tensor"
)

// Layer is one decoder layer (post-norm):
//
//	x = LayerNorm(x + selfattn(x))           causal, over the cache
//	x = LayerNorm(x + crossattn(x, image))
//	x = LayerNorm(x + W2·gelu(W1·x))
type Layer struct {
	Attention      Attention   `weights:"attention"`
	CrossAttention Attention   `weights:"crossattention"`
	FeedForward    FeedForward `weights:""`
}

// LMHead maps hidden states to vocabulary logits: decoder(LayerNorm(gelu(dense(x)))). Its
// decoder weight is tied to the word embeddings and its bias to "predictions.bias".
type LMHead struct {
	Transform struct {
		Dense     tensor.Linear    `weights:"dense"`
		LayerNorm tensor.LayerNorm `weights:"LayerNorm"`
	} `weights:"predictions.transform"`
	Decoder tensor.Linear `weights:"predictions.decoder"` // [V, H]
}

// Decoder is BlipTextLMHeadModel. Its weights are named as under "text_decoder." in a BLIP
// checkpoint.
type Decoder struct {
	Config     Config
	Embeddings Embeddings `weights:"bert.embeddings"`
	Layers     []Layer    `weights:"bert.encoder.layer"`
	Head       LMHead     `weights:"cls"`
}

// New declares a decoder of the given configuration, for a weight binder to fill.
func New(c Config) *Decoder {
	d := &Decoder{Config: c, Embeddings: newEmbeddings(c), Layers: make([]Layer, c.NumHiddenLayers)}
	for i := range d.Layers {
		d.Layers[i] = Layer{
			Attention:      newAttention(c, c.HiddenSize, true),
			CrossAttention: newAttention(c, c.EncoderHiddenSize, false),
			FeedForward:    newFeedForward(c),
		}
	}
	d.Head.Transform.Dense = tensor.NewLinear(c.HiddenSize, c.HiddenSize)
	d.Head.Transform.LayerNorm = tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps)
	d.Head.Decoder = tensor.NewLinear(c.HiddenSize, c.VocabSize)
	return d
}

// TiedWeights lists the groups of checkpoint names (relative to the decoder) that share one
// tensor, the source first, as transformers ties them.
func (d *Decoder) TiedWeights() [][]string {
	ties := [][]string{{"cls.predictions.bias", "cls.predictions.decoder.bias"}}
	if d.Config.TieWordEmbeddings {
		ties = append(ties, []string{"bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"})
	}
	return ties
}

// Prepare packs every linear layer's weights for the matrix-product kernel; done receives each
// unpacked weight the decoder no longer references.
func (d *Decoder) Prepare(p *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	for i := range d.Layers {
		l := &d.Layers[i]
		for _, a := range []*Attention{&l.Attention, &l.CrossAttention} {
			for _, lin := range []*tensor.Linear{&a.Self.Query, &a.Self.Key, &a.Self.Value, &a.Output.Dense} {
				lin.Prepare(p, arena, prec, done)
			}
		}
		l.FeedForward.Intermediate.Dense.Prepare(p, arena, prec, done)
		l.FeedForward.Output.Dense.Prepare(p, arena, prec, done)
	}
	d.Head.Transform.Dense.Prepare(p, arena, prec, done)
	d.Head.Decoder.Prepare(p, arena, prec, done)
}

// StepBytes is what one decoder step of one sequence reads from memory, with pos tokens
// already in its cache and an image of n embeddings: the weights of every layer but the
// cross-attention keys and values (those run once per image, in Cross), the image's cached
// cross-attention keys and values, the self-attention cache and the LM head. Decode steps
// are bound by it: divided by a step's time it is the memory bandwidth the step reached.
func (d *Decoder) StepBytes(pos, n int) int64 {
	h := int64(d.Config.HiddenSize)
	var b int64
	for i := range d.Layers {
		l := &d.Layers[i]
		for _, lin := range []*tensor.Linear{
			&l.Attention.Self.Query, &l.Attention.Self.Key, &l.Attention.Self.Value, &l.Attention.Output.Dense,
			&l.CrossAttention.Self.Query, &l.CrossAttention.Output.Dense,
			&l.FeedForward.Intermediate.Dense, &l.FeedForward.Output.Dense,
		} {
			b += lin.Bytes()
		}
		b += 4 * h * 2 * (int64(n) + int64(pos) + 1) // cross K/V, self K/V including the new token
	}
	return b + d.Head.Transform.Dense.Bytes() + d.Head.Decoder.Bytes()
}

// Cross holds the cross-attention keys and values of one image for every layer, packed per
// head: computed once per image and shared by every sequence decoding it.
type Cross struct {
	KV []*tensor.KV
	N  int
}

// Cross projects image embeddings [N, E] into every layer's cross-attention keys and values.
func (d *Decoder) Cross(p *tensor.Pool, image *tensor.Tensor) *Cross {
	n, h := image.Rows(), d.Config.HiddenSize
	x := &Cross{N: n}
	k, v := tensor.New(n, h), tensor.New(n, h)
	for i := range d.Layers {
		ca := &d.Layers[i].CrossAttention
		ca.Self.Key.Forward(p, k, image)
		ca.Self.Value.Forward(p, v, image)
		x.KV = append(x.KV, ca.attn.PackKV(p, tensor.Heads{Data: k.Data, Stride: h}, tensor.Heads{Data: v.Data, Stride: h}, n))
	}
	return x
}

// Cache is the self-attention key/value cache of one sequence: for every layer, the keys and
// values of the Len tokens seen so far, each row H wide.
type Cache struct {
	Len  int
	K, V [][]float32 // per layer, [capacity, H]
}

// NewCache returns an empty cache for up to capacity tokens.
func (d *Decoder) NewCache(capacity int) *Cache {
	c := &Cache{}
	h := d.Config.HiddenSize
	for range d.Layers {
		c.K = append(c.K, make([]float32, capacity*h))
		c.V = append(c.V, make([]float32, capacity*h))
	}
	return c
}

// CopyFrom makes c a copy of o (same capacity), for beam search reordering.
func (c *Cache) CopyFrom(o *Cache, h int) {
	c.Len = o.Len
	for i := range c.K {
		copy(c.K[i][:o.Len*h], o.K[i][:o.Len*h])
		copy(c.V[i][:o.Len*h], o.V[i][:o.Len*h])
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

// Forward runs T new tokens through the decoder for each of B sequences: ids is [B][T], caches
// and crosses hold each sequence's state (sequences may share a Cross). It appends the new
// keys and values to the caches and writes the last layer's hidden states into hidden
// [B*T, H], sequence-major. All sequences must have the same cache length. ws may be nil
// (buffers are then allocated for this call).
func (d *Decoder) Forward(ctx context.Context, p *tensor.Pool, hidden *tensor.Tensor, ids [][]int, caches []*Cache, crosses []*Cross, ws *Workspace) error {
	c := d.Config
	b, t, h := len(ids), len(ids[0]), c.HiddenSize
	pos0 := caches[0].Len
	if pos0+t > c.MaxPositionEmbeddings {
		return fmt.Errorf("bert: sequence of %d tokens exceeds max_position_embeddings %d", pos0+t, c.MaxPositionEmbeddings)
	}
	if capacity := len(caches[0].K[0]) / h; pos0+t > capacity {
		return fmt.Errorf("bert: sequence of %d tokens exceeds the cache capacity %d", pos0+t, capacity)
	}
	for s := range ids {
		if len(ids[s]) != t || caches[s].Len != pos0 {
			panic("bert: sequences of a batch must advance together")
		}
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
	nScratch := tensor.ScratchSize(p, t, maxKeys)
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
			ck, cv := caches[s].K[li], caches[s].V[li]
			copy(ck[pos0*h:(pos0+t)*h], k.Data[s*t*h:])
			copy(cv[pos0*h:(pos0+t)*h], v.Data[s*t*h:])
			sa.attn.Forward(p,
				tensor.Heads{Data: ctxOut.Data[s*t*h:], Stride: h},
				tensor.Heads{Data: q.Data[s*t*h:], Stride: h},
				tensor.Heads{Data: ck, Stride: h}, tensor.Heads{Data: cv, Stride: h},
				t, pos0+t, scratch)
		}
		sa.Output.Forward(p, x, ctxOut)
		// Cross-attention to the image.
		ca := &l.CrossAttention
		ca.Self.Query.Forward(p, q, x)
		for s := range ids {
			ca.attn.ForwardKV(p,
				tensor.Heads{Data: ctxOut.Data[s*t*h:], Stride: h},
				tensor.Heads{Data: q.Data[s*t*h:], Stride: h},
				crosses[s].KV[li], t, scratch)
		}
		ca.Output.Forward(p, x, ctxOut)
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

// Logits computes dst [M, V] from hidden states [M, H] through the LM head.
func (d *Decoder) Logits(p *tensor.Pool, dst, hidden *tensor.Tensor) {
	t := tensor.New(hidden.Rows(), d.Config.HiddenSize)
	d.Head.Transform.Dense.ForwardGELU(p, t, hidden)
	d.Head.Transform.LayerNorm.Forward(p, t, t)
	d.Head.Decoder.Forward(p, dst, t)
}
