package vit

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor"
)

// Embeddings turns pixels into the encoder's input tokens: a class token followed by one token
// per patch (a stride-P convolution, run as a product over flattened patches), plus learned
// position embeddings.
type Embeddings struct {
	ClassEmbedding    *tensor.Tensor `weights:"class_embedding"`    // [1, 1, D]
	PatchEmbedding    tensor.Linear  `weights:"patch_embedding"`    // weight [D, C, P, P], bias [D]
	PositionEmbedding *tensor.Tensor `weights:"position_embedding"` // [1, N, D]

	cfg Config
}

func newEmbeddings(c Config) Embeddings {
	d, p := c.HiddenSize, c.PatchSize
	return Embeddings{
		ClassEmbedding:    tensor.Declare(1, 1, d),
		PatchEmbedding:    tensor.Linear{Weight: tensor.Declare(d, c.NumChannels, p, p), Bias: tensor.Declare(d)},
		PositionEmbedding: tensor.Declare(1, c.SeqLen(), d),
		cfg:               c,
	}
}

// Forward writes the embedded tokens of one image into dst [N, D]. pixels is [C, S, S]
// (channel-first, normalised); patches is scratch of at least (N-1)·C·P·P values.
func (e *Embeddings) Forward(p *tensor.Pool, dst *tensor.Tensor, pixels []float32, patches []float32) {
	c := e.cfg
	s, ps, g, ch := c.ImageSize, c.PatchSize, c.NumPatches(), c.NumChannels
	if len(pixels) != ch*s*s {
		panic(fmt.Sprintf("vit: %d pixel values for a %dx%dx%d image", len(pixels), ch, s, s))
	}
	k := ch * ps * ps
	n := g * g
	cols := tensor.FromData(patches[:n*k], n, k)
	// Flatten each patch in the weight's (channel, row, column) order.
	p.For(n, func(lo, hi int) {
		for idx := lo; idx < hi; idx++ {
			py, px := idx/g, idx%g
			out := cols.Row(idx)
			for ci := 0; ci < ch; ci++ {
				for y := 0; y < ps; y++ {
					row := pixels[ci*s*s+(py*ps+y)*s+px*ps:]
					copy(out[(ci*ps+y)*ps:(ci*ps+y+1)*ps], row[:ps])
				}
			}
		}
	})
	d := c.HiddenSize
	copy(dst.Row(0), e.ClassEmbedding.Data[:d])
	e.PatchEmbedding.Forward(p, dst.SliceRows(1, n+1), cols)
	tensor.AddInPlace(dst.Data[:(n+1)*d], e.PositionEmbedding.Data)
}
