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
	g, b := ln.Weight.Data[:n], ln.Bias.Data[:n]
	p.ForGrain(x.Rows(), 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, out := x.Data[r*n:(r+1)*n], dst.Data[r*n:(r+1)*n]
			mean := sum4(in) / float64(n)
			rstd := 1 / math.Sqrt(squares4(in, mean)/float64(n)+ln.Eps)
			for i, v := range in {
				out[i] = float32((float64(v)-mean)*rstd*float64(g[i]) + float64(b[i]))
			}
		}
	})
}

// sum4 is Σ x in float64 as four running sums, each over every fourth value, added pairwise
// at the end, so that the adds do not wait on one another (one chain of float64 adds made the
// layer norm 3x slower).
func sum4(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// squares4 is Σ (x - mean)² in float64, summed as sum4 sums.
func squares4(x []float32, mean float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := float64(x[i])-mean, float64(x[i+1])-mean, float64(x[i+2])-mean, float64(x[i+3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - mean
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
