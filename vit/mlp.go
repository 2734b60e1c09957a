package vit

import "github.com/imagesemantics/blipgo/tensor"

// MLP is the feed-forward block: fc2(gelu(fc1(x))).
type MLP struct {
	FC1 tensor.Linear `weights:"fc1"` // [I, D]
	FC2 tensor.Linear `weights:"fc2"` // [D, I]
}

func newMLP(c Config) MLP {
	return MLP{FC1: tensor.NewLinear(c.HiddenSize, c.IntermediateSize), FC2: tensor.NewLinear(c.IntermediateSize, c.HiddenSize)}
}

// Forward computes dst [N, D] = MLP(x [N, D]); hidden is [N, I] scratch.
func (m *MLP) Forward(p *tensor.Pool, dst, x, hidden *tensor.Tensor) {
	m.FC1.Forward(p, hidden, x)
	tensor.GELU(p, hidden.Data)
	m.FC2.Forward(p, dst, hidden)
}
