package bert

import "github.com/imagesemantics/blipgo/tensor"

// LMHead maps hidden states to vocabulary logits: decoder(LayerNorm(gelu(dense(x)))), as
// BlipTextLMPredictionHead. Its weights are named as under "text_decoder.cls." in a BLIP
// checkpoint; transformers ties its decoder weight to the word embeddings and its decoder bias
// to "predictions.bias".
type LMHead struct {
	Transform struct {
		Dense     tensor.Linear    `weights:"dense"`
		LayerNorm tensor.LayerNorm `weights:"LayerNorm"`
	} `weights:"predictions.transform"`
	Decoder tensor.Linear `weights:"predictions.decoder"` // [V, H]
}

// NewLMHead declares the head of a text model of configuration c.
func NewLMHead(c Config) *LMHead {
	h := &LMHead{}
	h.Transform.Dense = tensor.NewLinear(c.HiddenSize, c.HiddenSize)
	h.Transform.LayerNorm = tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps)
	h.Decoder = tensor.NewLinear(c.HiddenSize, c.VocabSize)
	return h
}

// Prepare packs the head's weights (see Model.Prepare).
func (h *LMHead) Prepare(p *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	h.Transform.Dense.Prepare(p, arena, prec, done)
	h.Decoder.Prepare(p, arena, prec, done)
}

// Bytes is the memory of the head's weights: what every decode step reads.
func (h *LMHead) Bytes() int64 { return h.Transform.Dense.Bytes() + h.Decoder.Bytes() }

// Forward computes logits dst [M, V] from hidden states [M, H].
func (h *LMHead) Forward(p *tensor.Pool, dst, hidden *tensor.Tensor) {
	t := tensor.New(hidden.Rows(), hidden.Cols())
	h.Transform.Dense.ForwardGELU(p, t, hidden)
	h.Transform.LayerNorm.Forward(p, t, t)
	h.Decoder.Forward(p, dst, t)
}
