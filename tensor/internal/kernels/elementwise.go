package kernels

import (
	"fmt"
	"math"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// The element-wise kernels of softmax and GELU. On x86 the bulk of each slice runs in
// gemm_amd64.s, 16 values at a time, in AVX-512 or, on CPUs without it, in AVX2 kernels that
// compute the same bits; on arm64 in NEON (elementwise_arm64.go). The scalar functions below
// are their twins and finish the tails.

// Max returns the largest value of a non-empty slice.
func Max(x []float32) float32 {
	m := x[0]
	n := vectorPrefix(len(x))
	if n > 0 {
		m = maxVec(x[:n])
	}
	for _, v := range x[n:] {
		m = max(m, v)
	}
	return m
}

// MaxExponent returns the largest exponent field of x's values (math.Float32bits(v) &
// approx.ExponentField, 0 for an empty x): ExponentField exactly when x holds a NaN or an
// infinity. The vector kernels stream the longest prefix they take (checking a checkpoint's
// 1.9 GB at load: 9.7-10.7 GB/s on one core of a Cascade Lake Xeon, against 4.1-4.8 for the
// scalar loop of four running maxima, which finishes the rest, does it all without vector
// kernels, and is their twin).
func MaxExponent(x []float32) uint32 {
	const f = approx.ExponentField
	var m0, m1, m2, m3 uint32
	i := vectorPrefix(len(x))
	if i > 0 {
		m0 = maxExponentVec(x[:i])
	}
	for ; i+4 <= len(x); i += 4 {
		m0 = max(m0, math.Float32bits(x[i])&f)
		m1 = max(m1, math.Float32bits(x[i+1])&f)
		m2 = max(m2, math.Float32bits(x[i+2])&f)
		m3 = max(m3, math.Float32bits(x[i+3])&f)
	}
	for ; i < len(x); i++ {
		m0 = max(m0, math.Float32bits(x[i])&f)
	}
	return max(m0, m1, m2, m3)
}

// ExpShiftSum replaces x[i] by e^(x[i]·scale - shift) and returns their sum.
func ExpShiftSum(x []float32, scale, shift float32) float32 {
	var sum float32
	n := vectorPrefix(len(x))
	if n > 0 {
		sum = expSumVec(x[:n], scale, shift)
	}
	for i := n; i < len(x); i++ {
		// float32() rounds the product as the vector kernels do: without it the compiler may
		// fuse it with the subtraction (arm64 does), and a value would come out differently
		// in a slice's tail than in its vector prefix.
		e := Exp32(float32(x[i]*scale) - shift)
		x[i] = e
		sum += e
	}
	return sum
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	n := vectorPrefix(len(x))
	if n > 0 {
		scaleVec(x[:n], s)
	}
	for i := n; i < len(x); i++ {
		x[i] *= s
	}
}

// Add adds src to dst element-wise: dst[i] += src[i] (src at least as long as dst).
func Add(dst, src []float32) { AddRows(dst, len(dst), 1, src[:len(dst)]) }

// AddRows adds v to each of rows rows of c, ldc values apart: c[r·ldc+i] += v[i] for i <
// len(v). One call serves a whole tile of C (an epilogue's bias): the vector kernels loop over
// the rows themselves.
func AddRows(c []float32, ldc, rows int, v []float32) {
	n := len(v)
	if rows <= 0 || n == 0 {
		return
	}
	checkRows("AddRows", len(c), ldc, rows, n)
	m := vectorPrefix(n)
	if m > 0 {
		addRowsVec(c, ldc, rows, v[:m])
	}
	for r := 0; m < n && r < rows; r++ {
		row := c[r*ldc+m : r*ldc+n]
		for i := range row {
			row[i] += v[m+i]
		}
	}
}

// GELU applies x/2 · (1 + erf(x/√2)) in place.
func GELU(x []float32) { GELURows(x, len(x), 1, len(x)) }

// GELURows applies GELU in place to the first n values of each of rows rows of c, ldc values
// apart (see AddRows).
func GELURows(c []float32, ldc, rows, n int) {
	if rows <= 0 || n <= 0 {
		return
	}
	checkRows("GELURows", len(c), ldc, rows, n)
	m := vectorPrefix(n)
	if m > 0 {
		geluRowsVec(c, ldc, rows, m)
	}
	for r := 0; m < n && r < rows; r++ {
		row := c[r*ldc+m : r*ldc+n]
		for i, v := range row {
			row[i] = 0.5 * v * (1 + Erf32(v*math.Sqrt2/2))
		}
	}
}

// checkRows panics unless rows rows of n values, ldc apart (ldc >= n when there are several),
// lie within a slice of length size: the row kernels write through raw pointers.
func checkRows(name string, size, ldc, rows, n int) {
	if rows > 1 && ldc < n || size < (rows-1)*ldc+n {
		panic(fmt.Sprintf("kernels: %s of %d rows of %d, %d apart, in %d values", name, rows, n, ldc, size))
	}
}

// Erf32 is erf for float32, a rational approximation over [-4, 4] (erf is ±1 in float32
// beyond) with an error of a few units in the last place.
func Erf32(x float32) float32 {
	x = min(max(x, -approx.ErfClamp), approx.ErfClamp)
	x2 := x * x
	p := approx.ErfNum[0]
	for _, c := range approx.ErfNum[1:] {
		p = x2*p + c
	}
	p *= x
	q := approx.ErfDen[0]
	for _, c := range approx.ErfDen[1:] {
		q = x2*q + c
	}
	return p / q
}

// Exp32 is e^x for float32 (Cephes' expf: range reduction by ln 2 and a degree-5 polynomial,
// about 1 ulp), 0 below -87.34 and +Inf above 88.72.
func Exp32(x float32) float32 {
	if x > approx.ExpHi {
		return float32(math.Inf(1))
	}
	if x < approx.ExpLo {
		return 0
	}
	// Round x·log2(e) to the nearest integer: adding 1.5·2^23 pushes the fraction out of the
	// float32 mantissa.
	n := (float32(x*approx.ExpLog2) + 12582912) - 12582912 // the product rounded, as the kernels round it
	r := x - n*approx.ExpC1
	r -= n * approx.ExpC2
	z := r * r
	y := approx.ExpPoly[0]
	for _, c := range approx.ExpPoly[1:] {
		y = y*r + c
	}
	y = y*z + r + 1
	if n > 127 { // 2^n is not a float32, but e^x still is
		return y * 2 * math.Float32frombits(uint32(int32(n)+126)<<23)
	}
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// The layer norm's kernels, in float64: SumF64, SquaresF64 and Normalize. The sums run in the
// order the AVX-512 kernels sum the longest prefix of 16k values (sixteen running sums, lane j
// over x[16q+j], folded in halves: lane j plus lane j+8, then j+4, j+2, j+1), then add the
// rest one by one; sum16 is the twin of that prefix, and runs it where there is
// no vector kernel, so every CPU sums in the same order. A layer norm of 577 rows of 1024 on
// one core of the Zen 5 (BenchmarkLayerNorm in package tensor): 1.06-1.13 ms with one chain of
// float64 adds in Go, 0.87 with the twin (-tags noasm), 0.14-0.15 with the AVX-512 kernels.

// SumF64 returns Σ x in float64.
func SumF64(x []float32) float64 { return sumF64(x, 0, false) }

// SquaresF64 returns Σ (x - mean)² in float64, each square rounded before it is added.
func SquaresF64(x []float32, mean float64) float64 { return sumF64(x, mean, true) }

// sumF64 is Σ term(x, mean, squares) in the vector kernels' order: the kernel, or its twin
// sum16, over the longest prefix of 16k values, then the rest one by one.
func sumF64(x []float32, mean float64, squares bool) float64 {
	n := len(x) &^ 15
	var s float64
	switch {
	case n > 0 && f64Vec() && squares:
		s = squaresF64Vec(x[:n], mean)
	case n > 0 && f64Vec():
		s = sumF64Vec(x[:n])
	case n > 0:
		s = sum16(x[:n], mean, squares)
	}
	for _, v := range x[n:] {
		s += term(v, mean, squares)
	}
	return s
}

// term is v, or with squares (v - mean)² rounded (no fused multiply-add).
func term(v float32, mean float64, squares bool) float64 {
	if !squares {
		return float64(v)
	}
	d := float64(v) - mean
	return float64(d * d)
}

// Normalize writes dst[i] = float32((x[i] - mean)·rstd·g[i] + b[i]), computed in float64 in that
// order, each step rounded (no fused multiply-add); dst may be x. x, g and b are at least as
// long as dst.
func Normalize(dst, x, g, b []float32, mean, rstd float64) {
	x, g, b = x[:len(dst)], g[:len(dst)], b[:len(dst)]
	n := 0
	if f64Vec() {
		n = len(dst) &^ 15
		if n > 0 {
			normalizeVec(dst[:n], x[:n], g[:n], b[:n], mean, rstd)
		}
	}
	for i := n; i < len(dst); i++ {
		dst[i] = float32(float64((float64(x[i])-mean)*rstd*float64(g[i])) + float64(b[i]))
	}
}

// sum16 is the vector kernels' sum of terms (see sumF64), len(x) a multiple of 16.
func sum16(x []float32, mean float64, squares bool) float64 {
	var s [16]float64
	for q := 0; q < len(x); q += 16 {
		// The choice is made a block at a time, out of the inner loop (inside it, the Go
		// twin ran 1.25x slower).
		if block := x[q : q+16]; squares {
			for j, v := range block {
				s[j] += term(v, mean, true)
			}
		} else {
			for j, v := range block {
				s[j] += float64(v)
			}
		}
	}
	return fold16(&s)
}

// fold16 adds sixteen lanes in halves, as the vector kernels do.
func fold16(s *[16]float64) float64 {
	for half := 8; half > 0; half /= 2 {
		for j := range half {
			s[j] += s[j+half]
		}
	}
	return s[0]
}
