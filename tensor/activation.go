package tensor

import "math"

// GELU applies the exact (erf) GELU in place: x = x/2 · (1 + erf(x/√2)), as torch's default
// nn.GELU and transformers' "gelu".
func GELU(p *Pool, x []float32) {
	p.ForGrain(len(x), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			x[i] = float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
		}
	})
}

// Softmax replaces x by softmax(x), computed in float32 after subtracting the maximum, with the
// exponentials in float64.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := maxOf(x)
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// LogSoftmax replaces x by log(softmax(x)).
func LogSoftmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := maxOf(x)
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	lse := float32(math.Log(sum))
	for i, v := range x {
		x[i] = v - m - lse
	}
}

// maxOf is the largest value of a non-empty slice.
func maxOf(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}
