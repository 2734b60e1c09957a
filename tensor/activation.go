package tensor

import (
	"math"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// GELU applies the exact (erf) GELU in place: x = x/2 · (1 + erf(x/√2)), as torch's default
// nn.GELU and transformers' "gelu". erf is a float32 rational approximation (max error 4e-7):
// math.Erf in float64 is ten times slower and GELU runs on every activation of every MLP.
func GELU(p *Pool, x []float32) {
	p.ForGrain(len(x), 4096, func(lo, hi int) { kernels.GELU(x[lo:hi]) })
}

// Softmax replaces x by softmax(x), in float32 after subtracting the maximum (e^x by a float32
// polynomial, about 1 ulp).
func Softmax(x []float32) { ScaledSoftmax(x, 1) }

// ScaledSoftmax replaces x by softmax(scale·x) for scale > 0: attention's
// softmax(q·kᵀ/√d) without a separate pass to scale the scores.
func ScaledSoftmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	// max(scale·x) = scale·max(x) exactly, as multiplying by a positive float is monotonic.
	kernels.Scale(x, 1/kernels.ExpShiftSum(x, scale, kernels.Max(x)*scale))
}

// LogSoftmax replaces x by log(softmax(x)), with the normaliser summed in float64.
func LogSoftmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := kernels.Max(x)
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	lse := float32(math.Log(sum))
	for i, v := range x {
		x[i] = v - m - lse
	}
}
