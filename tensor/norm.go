package tensor

import (
	"fmt"
	"math"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// LayerNorm normalises over the last axis: y = (x - mean) / sqrt(var + Eps) * Weight + Bias, with
// the biased variance, as torch.nn.LayerNorm. Weight and Bias are [N].
type LayerNorm struct {
	Weight *Tensor `weights:"weight"`
	Bias   *Tensor `weights:"bias"`
	Eps    float64
}

// NewLayerNorm declares a layer norm over n features, for the weight binder to fill.
func NewLayerNorm(n int, eps float64) LayerNorm {
	return LayerNorm{Weight: Declare(n), Bias: Declare(n), Eps: eps}
}

// Forward computes dst[M, N] = LayerNorm(x[M, N]); dst may be x. Statistics are accumulated in
// float64.
func (ln *LayerNorm) Forward(p *Pool, dst, x *Tensor) {
	n := ln.Weight.Len()
	if x.Cols() != n || dst.Len() != x.Len() {
		panic(fmt.Sprintf("tensor: layer norm over %d: x %v, dst %v", n, x.Shape, dst.Shape))
	}
	g, b := ln.Weight.Data[:n], ln.Bias.Data[:n]
	p.ForGrain(x.Rows(), 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, out := x.Data[r*n:(r+1)*n], dst.Data[r*n:(r+1)*n]
			mean := kernels.SumF64(in) / float64(n)
			rstd := 1 / math.Sqrt(kernels.SquaresF64(in, mean)/float64(n)+ln.Eps)
			kernels.Normalize(out, in, g, b, mean, rstd)
		}
	})
}
