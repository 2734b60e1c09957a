package bert

import (
	"math"

	"github.com/imagesemantics/blipgo/tensor"
)

// SelfOutput is a BERT residual block tail: LayerNorm(dense(x) + residual).
type SelfOutput struct {
	Dense     tensor.Linear    `weights:"dense"`
	LayerNorm tensor.LayerNorm `weights:"LayerNorm"`
}

// Forward computes x = LayerNorm(dense(h) + x) for x [M, H], h [M, in], the residual fused
// into the product.
func (o *SelfOutput) Forward(p *tensor.Pool, x, h *tensor.Tensor) {
	o.Dense.ForwardAdd(p, x, h)
	o.LayerNorm.Forward(p, x, x)
}

// Projections are the query, key and value projections of one attention.
type Projections struct {
	Query tensor.Linear `weights:"query"` // [H, H]
	Key   tensor.Linear `weights:"key"`   // [H, H] (self) or [H, E] (cross)
	Value tensor.Linear `weights:"value"`
}

// Attention is BERT's attention block, self- or cross-: projections, scaled dot-product
// attention per head, then SelfOutput.
type Attention struct {
	Self   Projections `weights:"self"`
	Output SelfOutput  `weights:"output"`

	attn tensor.Attention
}

func newAttention(c Config, kvIn int, causal bool) Attention {
	h := c.HiddenSize
	return Attention{
		Self:   Projections{tensor.NewLinear(h, h), tensor.NewLinear(kvIn, h), tensor.NewLinear(kvIn, h)},
		Output: SelfOutput{tensor.NewLinear(h, h), tensor.NewLayerNorm(h, c.LayerNormEps)},
		attn: tensor.Attention{
			NumHeads: c.NumAttentionHeads, HeadDim: c.HeadDim(),
			Scale: float32(1 / math.Sqrt(float64(c.HeadDim()))), Causal: causal,
		},
	}
}

// FeedForward is BERT's intermediate and output blocks: x = LayerNorm(W2·gelu(W1·x) + x).
type FeedForward struct {
	Intermediate struct {
		Dense tensor.Linear `weights:"dense"` // [I, H]
	} `weights:"intermediate"`
	Output SelfOutput `weights:"output"` // dense [H, I]
}

func newFeedForward(c Config) FeedForward {
	var f FeedForward
	f.Intermediate.Dense = tensor.NewLinear(c.HiddenSize, c.IntermediateSize)
	f.Output = SelfOutput{tensor.NewLinear(c.IntermediateSize, c.HiddenSize), tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps)}
	return f
}
