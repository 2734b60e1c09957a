package vit

import "github.com/imagesemantics/blipgo/tensor"

// Layer is one pre-norm transformer block:
//
//	x = x + attn(layer_norm1(x))
//	x = x + mlp(layer_norm2(x))
type Layer struct {
	LayerNorm1 tensor.LayerNorm `weights:"layer_norm1"`
	SelfAttn   Attention        `weights:"self_attn"`
	LayerNorm2 tensor.LayerNorm `weights:"layer_norm2"`
	MLP        MLP              `weights:"mlp"`
}

func newLayer(c Config) Layer {
	return Layer{
		LayerNorm1: tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps),
		SelfAttn:   newAttention(c),
		LayerNorm2: tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps),
		MLP:        newMLP(c),
	}
}

// Forward updates x [N, D] in place.
func (l *Layer) Forward(p *tensor.Pool, x *tensor.Tensor, ws *workspace) {
	l.LayerNorm1.Forward(p, ws.normed, x)
	l.SelfAttn.ForwardAdd(p, x, ws.normed, ws)
	l.LayerNorm2.Forward(p, ws.normed, x)
	l.MLP.ForwardAdd(p, x, ws.normed, ws.hidden)
}

// workspace holds the activations of one forward pass, reused by every layer.
type workspace struct {
	normed, qkv, ctx, hidden *tensor.Tensor
	scores, patches          []float32
}

// newWorkspace sizes the workspace for a pool of p's size and attention shaped as a.
func newWorkspace(c Config, p *tensor.Pool, a *tensor.Attention) *workspace {
	n, d := c.SeqLen(), c.HiddenSize
	return &workspace{
		normed:  tensor.New(n, d),
		qkv:     tensor.New(n, 3*d),
		ctx:     tensor.New(n, d),
		hidden:  tensor.New(n, c.IntermediateSize),
		scores:  make([]float32, a.ScratchSize(p, n, n)),
		patches: make([]float32, (n-1)*c.NumChannels*c.PatchSize*c.PatchSize),
	}
}
