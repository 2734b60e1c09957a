package tensor

import (
	"fmt"
	"math"
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
	g, b := ln.Weight.Data, ln.Bias.Data
	p.ForGrain(x.Rows(), 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, out := x.Data[r*n:(r+1)*n], dst.Data[r*n:(r+1)*n]
			var sum float64
			for _, v := range in {
				sum += float64(v)
			}
			mean := sum / float64(n)
			var sq float64
			for _, v := range in {
				d := float64(v) - mean
				sq += d * d
			}
			rstd := 1 / math.Sqrt(sq/float64(n)+ln.Eps)
			for i, v := range in {
				out[i] = float32((float64(v)-mean)*rstd*float64(g[i]) + float64(b[i]))
			}
		}
	})
}
