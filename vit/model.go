package vit

import (
	"context"
	"fmt"

	"github.com/imagesemantics/blipgo/tensor"
)

// Model is BLIP's vision transformer (BlipVisionModel): embeddings, pre-norm encoder layers and
// a final layer norm. Its weights are named as under "vision_model." in a BLIP checkpoint.
type Model struct {
	Config        Config
	Embeddings    Embeddings       `weights:"embeddings"`
	Layers        []Layer          `weights:"encoder.layers"`
	PostLayerNorm tensor.LayerNorm `weights:"post_layernorm"`
}

// New declares a model of the given configuration; its tensors have shapes but no data until
// a weight binder fills them.
func New(c Config) *Model {
	m := &Model{
		Config:        c,
		Embeddings:    newEmbeddings(c),
		Layers:        make([]Layer, c.NumHiddenLayers),
		PostLayerNorm: tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps),
	}
	for i := range m.Layers {
		m.Layers[i] = newLayer(c)
	}
	return m
}

// Prepare packs every linear layer's weights into the arena for the matrix-product kernel in
// precision prec, and sets the self-attention's to it (tensor.Attention.Precision); done
// receives each unpacked weight the model no longer references.
func (m *Model) Prepare(p *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	m.Embeddings.PatchEmbedding.Prepare(p, arena, prec, done)
	for i := range m.Layers {
		l := &m.Layers[i]
		l.SelfAttn.attn.Precision = prec
		for _, lin := range []*tensor.Linear{&l.SelfAttn.QKV, &l.SelfAttn.Projection, &l.MLP.FC1, &l.MLP.FC2} {
			lin.Prepare(p, arena, prec, done)
		}
	}
}

// Forward encodes one preprocessed image, pixels [C, S, S] channel-first, into dst [N, D] (the
// last_hidden_state, after the post layer norm), N = 1 + (S/P)². It checks ctx between layers,
// and returns a *tensor.NonFiniteError naming the first layer whose output holds a NaN or an
// infinity.
func (m *Model) Forward(ctx context.Context, p *tensor.Pool, dst *tensor.Tensor, pixels []float32) error {
	return m.forward(ctx, p, dst, pixels, nil)
}

// HiddenStates is Forward that also returns transformers' hidden_states: the embeddings and
// the output of every layer, before the post layer norm, each [N, D].
func (m *Model) HiddenStates(ctx context.Context, p *tensor.Pool, dst *tensor.Tensor, pixels []float32) ([]*tensor.Tensor, error) {
	var states []*tensor.Tensor
	err := m.forward(ctx, p, dst, pixels, func(x *tensor.Tensor) {
		states = append(states, tensor.FromData(append([]float32(nil), x.Data...), x.Shape...))
	})
	return states, err
}

func (m *Model) forward(ctx context.Context, p *tensor.Pool, dst *tensor.Tensor, pixels []float32, record func(*tensor.Tensor)) error {
	c := m.Config
	if dst.Rows() != c.SeqLen() || dst.Cols() != c.HiddenSize {
		panic(fmt.Sprintf("vit: output %v, want [%d, %d]", dst.Shape, c.SeqLen(), c.HiddenSize))
	}
	ws := newWorkspace(c, p, &m.Layers[0].SelfAttn.attn)
	x := tensor.New(c.SeqLen(), c.HiddenSize)
	m.Embeddings.Forward(p, x, pixels, ws.patches)
	if err := tensor.CheckFinite("vision embeddings", x.Data); err != nil {
		return err
	}
	if record != nil {
		record(x)
	}
	for i := range m.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.Layers[i].Forward(p, x, ws)
		// A layer whose output overflowed is named here, not left to turn into a silent
		// empty caption (a NaN never wins an argmax).
		if err := tensor.CheckFinite(fmt.Sprintf("vision layer %d", i), x.Data); err != nil {
			return err
		}
		if record != nil {
			record(x)
		}
	}
	m.PostLayerNorm.Forward(p, dst, x)
	return tensor.CheckFinite("vision post_layernorm", dst.Data)
}
