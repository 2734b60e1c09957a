//go:build amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// bothISAs skips unless this CPU runs both the AVX-512 and the AVX2 element-wise kernels.
func bothISAs(t testing.TB) {
	if !hasAVX512 || !hasAVX2 {
		t.Skip("the AVX2 and AVX-512 element-wise kernels compared only where the CPU has both")
	}
}

// sameBits reports whether a and b are the same float32, any NaN matching any NaN.
func sameBits(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// checkAVX2 runs every element-wise kernel through AVX-512 and AVX2 on x (len a multiple of
// 16) and fails unless they agree bit for bit: an AVX2-only CPU computes softmax and GELU as
// an AVX-512 one does. The AVX2 kernels write into copies of x with guard values past it,
// which must stay as they are.
func checkAVX2(t testing.TB, x []float32, scale, shift float32) {
	n := len(x)
	const guard, mark = 16, -7.5
	p := func(s []float32) *float32 { return unsafe.SliceData(s) }
	guarded := func() []float32 {
		g := append(append(make([]float32, 0, n+guard), x...), make([]float32, guard)...)
		for i := n; i < n+guard; i++ {
			g[i] = mark
		}
		return g
	}
	if a, b := maxAVX512(p(x), n), maxAVX2(p(x), n); !sameBits(a, b) {
		t.Fatalf("%v: max %v (AVX-512), %v (AVX2)", x, a, b)
	}
	if a, b := maxExponentAVX512(p(x), n), maxExponentAVX2(p(x), n); a != b {
		t.Fatalf("%v: largest exponent field %#x (AVX-512), %#x (AVX2)", x, a, b)
	}
	ea, eb := append([]float32(nil), x...), guarded()
	sa, sb := expSumAVX512(p(ea), n, scale, shift), expSumAVX2(p(eb), n, scale, shift)
	if !sameBits(sa, sb) {
		t.Fatalf("%v scale %v shift %v: exp sum %v (AVX-512), %v (AVX2)", x, scale, shift, sa, sb)
	}
	ga, gb := append([]float32(nil), x...), guarded()
	geluRowsAVX512(p(ga), n, 1, n)
	geluRowsAVX2(p(gb), n, 1, n)
	ca, cb := append([]float32(nil), x...), guarded()
	scaleAVX512(p(ca), n, scale)
	scaleAVX2(p(cb), n, scale)
	da, db := append([]float32(nil), x...), guarded()
	addRowsAVX512(p(da), n, 1, p(ea), n)
	addRowsAVX2(p(db), n, 1, p(ea), n)
	for i, v := range x {
		if !sameBits(ea[i], eb[i]) || !sameBits(ga[i], gb[i]) || !sameBits(ca[i], cb[i]) || !sameBits(da[i], db[i]) {
			t.Fatalf("x[%d] = %v: exp %v / %v, gelu %v / %v, scale %v / %v, add %v / %v (AVX-512 / AVX2)",
				i, v, ea[i], eb[i], ga[i], gb[i], ca[i], cb[i], da[i], db[i])
		}
	}
	for _, g := range [][]float32{eb, gb, cb, db} {
		for i := n; i < n+guard; i++ {
			if g[i] != mark {
				t.Fatalf("n %d: an AVX2 kernel wrote past its slice: [%d] = %v", n, i, g[i])
			}
		}
	}
}

// TestElementwiseAVX2 compares the AVX2 kernels with the AVX-512 ones on softmax-like rows,
// every edge of exp's range (each value in a whole vector and mixed with others: below ExpLo,
// where the result is subnormal, past ExpHi, ±Inf, NaN) and random values over six decades.
func TestElementwiseAVX2(t *testing.T) {
	bothISAs(t)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	edges := []float32{-inf, -1000, -88, approx.ExpLo - 0.01, approx.ExpLo, approx.ExpLo + 0.01, -87, -86.5, -1e-30, 0,
		float32(math.Copysign(0, -1)), 1e-30, 1, 80, 88.3, 88.5, 88.7, approx.ExpHi, 88.73, 89, 89.5, 1000, 1e6, 2.3e8, 3e38, inf, nan, 5, -5, 3.9, 4.1, -4.1}
	for _, e := range edges {
		x := make([]float32, 32)
		for i := range x {
			x[i] = e
		}
		checkAVX2(t, x, 1, 0)
	}
	r := rand.New(rand.NewPCG(21, 21))
	for range 5000 {
		x := make([]float32, 16*(1+r.IntN(6)))
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, r.Float64()*6-3))
			if r.IntN(20) == 0 {
				x[i] = edges[r.IntN(len(edges))]
			}
		}
		scale := float32(math.Pow(10, r.Float64()*4-2))
		checkAVX2(t, x, scale, maxAVX512(unsafe.SliceData(x), len(x))*scale)
		checkAVX2(t, x, scale, float32(r.NormFloat64()*50))
	}
}

func FuzzElementwiseAVX2(f *testing.F) {
	f.Add(float32(0), float32(1), float32(1), float32(0), uint8(1))
	f.Add(float32(-87.3), float32(0.01), float32(1), float32(0), uint8(2))
	f.Fuzz(func(t *testing.T, base, spread, scale, shift float32, blocks uint8) {
		bothISAs(t)
		x := make([]float32, 16*(1+int(blocks)%8))
		for i := range x {
			x[i] = base + spread*float32(i%13-6)
		}
		checkAVX2(t, x, scale, shift)
	})
}

// TestRowKernels: the epilogues' row kernels, through AVX-512 and through AVX2, on rows rows of
// n values ld apart, give each value what the one-row call gives it, bit for bit, and leave
// the gaps between rows and the values past the last as they are.
func TestRowKernels(t *testing.T) {
	bothISAs(t)
	r := rand.New(rand.NewPCG(31, 31))
	const mark = -7.5
	p := func(s []float32) *float32 { return unsafe.SliceData(s) }
	for _, c := range []struct{ rows, n, gap int }{{1, 16, 0}, {3, 16, 0}, {14, 32, 5}, {5, 48, 16}, {2, 64, 1}} {
		ld := c.n + c.gap
		size := (c.rows-1)*ld + c.n + 16
		x, v := make([]float32, size), make([]float32, c.n)
		for i := range x {
			x[i] = mark
		}
		for i := range v {
			v[i] = float32(r.NormFloat64() * 3)
		}
		for row := range c.rows {
			for i := range c.n {
				x[row*ld+i] = float32(r.NormFloat64() * 4)
			}
		}
		want := func(gelu bool) []float32 {
			w := append([]float32(nil), x...)
			for row := range c.rows {
				if gelu {
					geluRowsAVX512(&w[row*ld], c.n, 1, c.n)
				} else {
					addRowsAVX512(&w[row*ld], c.n, 1, p(v), c.n)
				}
			}
			return w
		}
		for _, gelu := range []bool{false, true} {
			w := want(gelu)
			for _, isa := range []string{"avx512", "avx2"} {
				got := append([]float32(nil), x...)
				switch {
				case gelu && isa == "avx512":
					geluRowsAVX512(p(got), ld, c.rows, c.n)
				case gelu:
					geluRowsAVX2(p(got), ld, c.rows, c.n)
				case isa == "avx512":
					addRowsAVX512(p(got), ld, c.rows, p(v), c.n)
				default:
					addRowsAVX2(p(got), ld, c.rows, p(v), c.n)
				}
				for i := range got {
					if !sameBits(got[i], w[i]) {
						t.Fatalf("%+v gelu %v %s: [%d] = %v, a row at a time %v (from %v)", c, gelu, isa, i, got[i], w[i], x[i])
					}
					if inRow := i < (c.rows-1)*ld+c.n && i%ld < c.n; !inRow && got[i] != mark {
						t.Fatalf("%+v gelu %v %s: wrote [%d] = %v outside the rows", c, gelu, isa, i, got[i])
					}
				}
			}
		}
	}
}
