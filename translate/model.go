package translate

import (
	"context"
	"fmt"
	"math"

	"github.com/imagesemantics/blipgo/tensor"
)

// attention is MarianAttention's projections: q, k, v and out, each [D, D] with a bias.
type attention struct {
	Q   tensor.Linear `weights:"q_proj"`
	K   tensor.Linear `weights:"k_proj"`
	V   tensor.Linear `weights:"v_proj"`
	Out tensor.Linear `weights:"out_proj"`

	attn tensor.Attention
}

func newAttention(d, heads int, causal bool) attention {
	return attention{
		Q: tensor.NewLinear(d, d), K: tensor.NewLinear(d, d), V: tensor.NewLinear(d, d), Out: tensor.NewLinear(d, d),
		attn: tensor.Attention{NumHeads: heads, HeadDim: d / heads, Scale: float32(math.Pow(float64(d/heads), -0.5)), Causal: causal},
	}
}

func (a *attention) linears() []*tensor.Linear { return []*tensor.Linear{&a.Q, &a.K, &a.V, &a.Out} }

// layer is a post-norm Marian layer: x = norm(x + self_attn(x)); in the decoder
// x = norm(x + cross_attn(x, encoder)); x = norm(x + fc2(act(fc1(x)))).
type layer struct {
	SelfAttn  attention         `weights:"self_attn"`
	SelfNorm  tensor.LayerNorm  `weights:"self_attn_layer_norm"`
	CrossAttn *attention        `weights:"encoder_attn"`            // decoder layers
	CrossNorm *tensor.LayerNorm `weights:"encoder_attn_layer_norm"` // decoder layers
	FC1       tensor.Linear     `weights:"fc1"`
	FC2       tensor.Linear     `weights:"fc2"`
	FinalNorm tensor.LayerNorm  `weights:"final_layer_norm"`
}

// layerNormEps is MarianMT's LayerNorm epsilon (torch's default; config.json has no key for it).
const layerNormEps = 1e-5

func newLayer(d, heads, ffn int, decoder bool) layer {
	l := layer{
		SelfAttn: newAttention(d, heads, decoder), SelfNorm: tensor.NewLayerNorm(d, layerNormEps),
		FC1: tensor.NewLinear(d, ffn), FC2: tensor.NewLinear(ffn, d), FinalNorm: tensor.NewLayerNorm(d, layerNormEps),
	}
	if decoder {
		ca := newAttention(d, heads, false)
		cn := tensor.NewLayerNorm(d, layerNormEps)
		l.CrossAttn, l.CrossNorm = &ca, &cn
	}
	return l
}

// network is MarianMTModel's parameters, named as its checkpoints name them.
type network struct {
	Shared  *tensor.Tensor `weights:"model.shared.weight"` // [V, D]: token embeddings and LM head
	Encoder struct {
		Layers []layer `weights:"layers"`
	} `weights:"model.encoder"`
	Decoder struct {
		Layers []layer `weights:"layers"`
	} `weights:"model.decoder"`
	FinalLogitsBias *tensor.Tensor `weights:"final_logits_bias"` // [1, V]

	head      tensor.Linear // logits = x·Sharedᵀ + final_logits_bias
	positions *tensor.Tensor
	scale     float32 // √d_model with scale_embedding
	act       func(*tensor.Pool, []float32)
}

func newNetwork(c *Config) *network {
	n := &network{Shared: tensor.Declare(c.VocabSize, c.DModel), FinalLogitsBias: tensor.Declare(1, c.VocabSize), scale: 1}
	for i := 0; i < c.EncoderLayers; i++ {
		n.Encoder.Layers = append(n.Encoder.Layers, newLayer(c.DModel, c.EncoderHeads, c.EncoderFFN, false))
	}
	for i := 0; i < c.DecoderLayers; i++ {
		n.Decoder.Layers = append(n.Decoder.Layers, newLayer(c.DModel, c.DecoderHeads, c.DecoderFFN, true))
	}
	if c.ScaleEmbedding {
		n.scale = float32(math.Sqrt(float64(c.DModel)))
	}
	n.positions = sinusoids(c.MaxPositions, c.DModel)
	n.act, _ = activation(c.Activation)
	return n
}

// sinusoids is MarianSinusoidalPositionalEmbedding's table [P, D], computed in float64: sines of
// pos/10000^(2⌊j/2⌋/D) at the even j in the first half, cosines at the odd j in the second.
func sinusoids(positions, d int) *tensor.Tensor {
	t := tensor.New(positions, d)
	half := (d + 1) / 2
	for pos := 0; pos < positions; pos++ {
		row := t.Row(pos)
		for j := 0; j < d; j++ {
			angle := float64(pos) / math.Pow(10000, float64(2*(j/2))/float64(d))
			if j%2 == 0 {
				row[j/2] = float32(math.Sin(angle))
			} else {
				row[half+j/2] = float32(math.Cos(angle))
			}
		}
	}
	return t
}

// activation is config.json's activation_function, applied in place over the pool's workers.
func activation(name string) (func(*tensor.Pool, []float32), error) {
	switch name {
	case "swish", "silu":
		return tensor.SiLU, nil
	case "gelu":
		return tensor.GELU, nil
	case "relu":
		return func(_ *tensor.Pool, x []float32) {
			for i, v := range x {
				x[i] = max(v, 0)
			}
		}, nil
	}
	return nil, fmt.Errorf("config.json: activation_function %q: want swish, gelu or relu", name)
}

// prepare packs every weight and builds the tied LM head.
func (n *network) prepare(p *tensor.Pool, arena *tensor.Arena) {
	for _, ls := range [][]layer{n.Encoder.Layers, n.Decoder.Layers} {
		for i := range ls {
			l := &ls[i]
			lins := append(l.SelfAttn.linears(), &l.FC1, &l.FC2)
			if l.CrossAttn != nil {
				lins = append(lins, l.CrossAttn.linears()...)
			}
			for _, lin := range lins {
				lin.Prepare(p, arena, tensor.Float32, nil)
			}
		}
	}
	v, d := n.Shared.Shape[0], n.Shared.Shape[1]
	n.head = tensor.Linear{Weight: tensor.FromData(append([]float32(nil), n.Shared.Data...), v, d), Bias: tensor.FromData(n.FinalLogitsBias.Data, v)}
	n.head.Prepare(p, arena, tensor.Float32, nil)
}

// embed writes dst [T, D]: token ids[i] at position pos0+i, scaled, plus its sinusoid.
func (n *network) embed(dst *tensor.Tensor, ids []int, pos0 int) error {
	for i, id := range ids {
		if id < 0 || id >= n.Shared.Rows() {
			return fmt.Errorf("translate: token id %d outside the vocabulary of %d", id, n.Shared.Rows())
		}
		if pos0+i >= n.positions.Rows() {
			return fmt.Errorf("translate: position %d beyond max_position_embeddings %d", pos0+i, n.positions.Rows())
		}
		row, emb, pos := dst.Row(i), n.Shared.Row(id), n.positions.Row(pos0+i)
		for j := range row {
			row[j] = emb[j]*n.scale + pos[j]
		}
	}
	return nil
}

// block runs a layer's feed-forward and post-norms on x [T, D] in place.
func (n *network) feedForward(p *tensor.Pool, l *layer, x *tensor.Tensor) {
	h := tensor.New(x.Rows(), l.FC1.Out())
	l.FC1.Forward(p, h, x)
	n.act(p, h.Data)
	l.FC2.ForwardAdd(p, x, h)
	l.FinalNorm.Forward(p, x, x)
}

// encode runs the encoder over one text's ids: hidden states [T, D]. Each text runs alone, at
// its own length: a padded batch's attention mask, without padding.
func (n *network) encode(ctx context.Context, p *tensor.Pool, ids []int) (*tensor.Tensor, error) {
	t, d := len(ids), n.Shared.Cols()
	x := tensor.New(t, d)
	if err := n.embed(x, ids, 0); err != nil {
		return nil, err
	}
	q, k, v, o := tensor.New(t, d), tensor.New(t, d), tensor.New(t, d), tensor.New(t, d)
	scratch := make([]float32, n.Encoder.Layers[0].SelfAttn.attn.ScratchSize(p, t, t))
	for li := range n.Encoder.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := &n.Encoder.Layers[li]
		a := &l.SelfAttn
		a.Q.Forward(p, q, x)
		a.K.Forward(p, k, x)
		a.V.Forward(p, v, x)
		a.attn.Forward(p, tensor.Heads{Data: o.Data, Stride: d}, tensor.Heads{Data: q.Data, Stride: d},
			tensor.Heads{Data: k.Data, Stride: d}, tensor.Heads{Data: v.Data, Stride: d}, t, t, scratch)
		a.Out.ForwardAdd(p, x, o)
		l.SelfNorm.Forward(p, x, x)
		n.feedForward(p, l, x)
	}
	return x, tensor.CheckFinite("encoder output", x.Data)
}

// source is one text's encoder output as every decoder layer's cross-attention keys and values.
type source struct {
	kv []*tensor.KV
}

func (n *network) crossKV(p *tensor.Pool, enc *tensor.Tensor) *source {
	s, d := enc.Rows(), enc.Cols()
	k, v := tensor.New(s, d), tensor.New(s, d)
	src := &source{}
	for i := range n.Decoder.Layers {
		ca := n.Decoder.Layers[i].CrossAttn
		ca.K.Forward(p, k, enc)
		ca.V.Forward(p, v, enc)
		src.kv = append(src.kv, ca.attn.PackKV(p, tensor.Float32, tensor.Heads{Data: k.Data, Stride: d}, tensor.Heads{Data: v.Data, Stride: d}, s))
	}
	return src
}

// cache is one sequence's decoder self-attention keys and values of its n tokens, per layer
// (tensor.Attention.NewKVCache).
type cache struct {
	n  int
	kv []*tensor.KV
}

func (n *network) newCache(capacity int) *cache {
	c := &cache{}
	for i := range n.Decoder.Layers {
		c.kv = append(c.kv, n.Decoder.Layers[i].SelfAttn.attn.NewKVCache(capacity))
	}
	return c
}

// copyFrom makes c a copy of o (same capacity), for beam search's reordering.
func (c *cache) copyFrom(o *cache) {
	c.n = o.n
	for i, kv := range c.kv {
		kv.CopyFrom(o.kv[i])
	}
}

// decode runs T new tokens of each of B sequences through the decoder (ids [B][T], the same T
// and cache length for all; sequence i attends to srcs[i]), appending to their caches, and
// writes the logits of every new position into logits [B*T, V], sequence-major. The linear
// layers and the LM head run on all B·T rows at once: weights are read once per step.
func (n *network) decode(ctx context.Context, p *tensor.Pool, logits *tensor.Tensor, ids [][]int, caches []*cache, srcs []*source) error {
	b, t, d := len(ids), len(ids[0]), n.Shared.Cols()
	pos0 := caches[0].n
	for i := range ids {
		if len(ids[i]) != t || caches[i].n != pos0 {
			panic("translate: sequences of a batch must advance together")
		}
	}
	if capacity := caches[0].kv[0].Capacity(); pos0+t > capacity {
		return fmt.Errorf("translate: sequence of %d tokens exceeds the cache of %d", pos0+t, capacity)
	}
	m := b * t
	x := tensor.New(m, d)
	for i := range ids {
		if err := n.embed(x.SliceRows(i*t, (i+1)*t), ids[i], pos0); err != nil {
			return err
		}
	}
	q, k, v, o := tensor.New(m, d), tensor.New(m, d), tensor.New(m, d), tensor.New(m, d)
	maxKeys := pos0 + t
	for _, src := range srcs {
		maxKeys = max(maxKeys, src.kv[0].S)
	}
	scratch := make([]float32, n.Decoder.Layers[0].SelfAttn.attn.ScratchSizeKV(p, t, maxKeys))
	for li := range n.Decoder.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := &n.Decoder.Layers[li]
		a := &l.SelfAttn
		a.Q.Forward(p, q, x)
		a.K.Forward(p, k, x)
		a.V.Forward(p, v, x)
		for i, c := range caches {
			a.attn.Put(p, c.kv[li], pos0, tensor.Heads{Data: k.Data[i*t*d:], Stride: d}, tensor.Heads{Data: v.Data[i*t*d:], Stride: d}, t)
			a.attn.ForwardKV(p, tensor.Heads{Data: o.Data[i*t*d:], Stride: d}, tensor.Heads{Data: q.Data[i*t*d:], Stride: d}, c.kv[li], t, scratch)
		}
		a.Out.ForwardAdd(p, x, o)
		l.SelfNorm.Forward(p, x, x)
		ca := l.CrossAttn
		ca.Q.Forward(p, q, x)
		for i := range caches {
			ca.attn.ForwardKV(p, tensor.Heads{Data: o.Data[i*t*d:], Stride: d}, tensor.Heads{Data: q.Data[i*t*d:], Stride: d}, srcs[i].kv[li], t, scratch)
		}
		ca.Out.ForwardAdd(p, x, o)
		l.CrossNorm.Forward(p, x, x)
		n.feedForward(p, l, x)
	}
	for _, c := range caches {
		c.n += t
	}
	n.head.Forward(p, logits, x)
	return tensor.CheckFinite(fmt.Sprintf("decoder logits at position %d", pos0+t-1), logits.Data)
}
