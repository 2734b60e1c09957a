package vit

import (
	"math"

	"github.com/imagesemantics/blipgo/tensor"
)

// Attention is BLIP's vision self-attention: one fused projection to q, k and v, scaled
// dot-product attention per head, and an output projection.
type Attention struct {
	QKV        tensor.Linear `weights:"qkv"`        // [3D, D]: q, k, v stacked
	Projection tensor.Linear `weights:"projection"` // [D, D]

	attn tensor.Attention
}

func newAttention(c Config) Attention {
	d := c.HiddenSize
	return Attention{
		QKV:        tensor.NewLinear(d, 3*d),
		Projection: tensor.NewLinear(d, d),
		attn: tensor.Attention{
			NumHeads: c.NumAttentionHeads, HeadDim: c.HeadDim(),
			Scale: float32(math.Pow(float64(c.HeadDim()), -0.5)),
		},
	}
}

// ForwardAdd adds attention(x [N, D]) to dst [N, D] (the residual fused into the output
// projection), using the workspace buffers.
func (a *Attention) ForwardAdd(p *tensor.Pool, dst, x *tensor.Tensor, ws *workspace) {
	n, d := x.Rows(), x.Cols()
	qkv := ws.qkv
	a.QKV.Forward(p, qkv, x)
	ctx := ws.ctx
	stride := 3 * d
	a.attn.Forward(p,
		tensor.Heads{Data: ctx.Data, Stride: d},
		tensor.Heads{Data: qkv.Data, Stride: stride},
		tensor.Heads{Data: qkv.Data[d:], Stride: stride},
		tensor.Heads{Data: qkv.Data[2*d:], Stride: stride},
		n, n, ws.scores)
	a.Projection.ForwardAdd(p, dst, ctx)
}
