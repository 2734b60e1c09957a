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

// ForwardAdd adds MLP(x [N, D]) to dst [N, D], the GELU and the residual fused into the
// products; hidden is [N, I] scratch.
func (m *MLP) ForwardAdd(p *tensor.Pool, dst, x, hidden *tensor.Tensor) {
	m.FC1.ForwardGELU(p, hidden, x)
	m.FC2.ForwardAdd(p, dst, hidden)
}
