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

// LogSoftmax replaces x by log(softmax(x)): x - max - log Σ e^(x - max), the exponentials the
// vector kernels' float32 ones (Softmax's, about 1 ulp) summed in float64, so that the
// normaliser is within about 1e-7 of its exact value (torch sums float32 ones in float32). Beam
// search takes it of every beam's logits at every step: BLIP's 30524 took 0.67-0.77 ms with
// math.Exp's, 0.08-0.10 ms so (BenchmarkLogSoftmax, one core of a Cascade Lake Xeon, two
// alternating rounds).
func LogSoftmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := kernels.Max(x)
	var buf [expChunk]float32
	var s0, s1, s2, s3 float64
	for at := 0; at < len(x); at += expChunk {
		e := expOf(&buf, x[at:], 1, m)
		i := 0
		for ; i+4 <= len(e); i += 4 {
			s0 += float64(e[i])
			s1 += float64(e[i+1])
			s2 += float64(e[i+2])
			s3 += float64(e[i+3])
		}
		for ; i < len(e); i++ {
			s0 += float64(e[i])
		}
	}
	lse := float32(math.Log((s0 + s1) + (s2 + s3)))
	for i, v := range x {
		x[i] = v - m - lse
	}
}

// SiLU applies x·sigmoid(x) = x / (1 + e^-x) in place (torch's silu, "swish"), in float32
// with the vector kernels' exponential (within 2 ulps of float64's, TestSiLU; where e^-x
// overflows, x below about -88, it gives -0 or a tiny negative number, as the exact value
// rounds to), split over the pool.
func SiLU(p *Pool, x []float32) {
	p.ForGrain(len(x), 4096, func(lo, hi int) {
		var buf [expChunk]float32
		for at := lo; at < hi; at += expChunk {
			e := expOf(&buf, x[at:hi], -1, 0)
			for i, v := range x[at : at+len(e)] {
				x[at+i] = v / (1 + e[i])
			}
		}
	})
}

// expChunk is how many exponentials LogSoftmax and SiLU hold at a time (4 KiB, on the stack).
const expChunk = 1024

// expOf returns e^(scale·v - shift) of x's first values, as many as buf holds, in buf (the
// vector kernels' exponentials, as ExpShiftSum computes them), leaving x as it is.
func expOf(buf *[expChunk]float32, x []float32, scale, shift float32) []float32 {
	e := buf[:copy(buf[:], x)]
	kernels.ExpShiftSum(e, scale, shift)
	return e
}
