package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// scalar twins of the vector paths, applied to a copy.
func scalarExpSum(x []float32, scale, shift float32) float32 {
	var s float32
	for i, v := range x {
		x[i] = Exp32(float32(v*scale) - shift)
		s += x[i]
	}
	return s
}

func TestElementwiseMatchScalar(t *testing.T) {
	if vectorPrefix(16) == 0 {
		t.Skip("no vector element-wise kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 577, 1024} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 6)
		}
		x[r.IntN(n)] = -200 // far below the exp range
		m := Max(x)
		var want float32 = x[0]
		for _, v := range x {
			want = max(want, v)
		}
		if m != want {
			t.Fatalf("n %d: Max %v, want %v", n, m, want)
		}
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		sa, sb := ExpShiftSum(a, 0.5, m*0.5), scalarExpSum(b, 0.5, m*0.5)
		if math.Abs(float64(sa-sb)) > 1e-5*float64(sb) {
			t.Fatalf("n %d: sum %v, scalar %v", n, sa, sb)
		}
		c := append([]float32(nil), x...)
		Scale(c, 0.125)
		for i := range c {
			if c[i] != x[i]*0.125 {
				t.Fatalf("n %d: scale[%d] %v, want %v", n, i, c[i], x[i]*0.125)
			}
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 2e-7*float64(b[i])+1e-37 {
				t.Fatalf("n %d: exp[%d] %v, scalar %v", n, i, a[i], b[i])
			}
		}
		g, h := append([]float32(nil), x...), append([]float32(nil), x...)
		GELU(g)
		// The vector and scalar twins evaluate erf's polynomials with and without fused
		// multiply-adds, so both are held to the exact GELU: within erf's error (4e-7) times
		// |x|/2, plus rounding.
		for i, v := range h {
			exact := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
			scalar := 0.5 * v * (1 + Erf32(v*math.Sqrt2/2))
			tol := 4e-7*math.Abs(float64(v)) + 2e-7*math.Abs(exact)
			if math.Abs(float64(g[i])-exact) > tol || math.Abs(float64(scalar)-exact) > tol {
				t.Fatalf("n %d: gelu(%v) = %v (vector), %v (scalar), exact %v", n, v, g[i], scalar, exact)
			}
		}
	}
}

// maxExponentTwin is MaxExponent one value at a time.
func maxExponentTwin(x []float32) uint32 {
	var m uint32
	for _, v := range x {
		m = max(m, math.Float32bits(v)&approx.ExponentField)
	}
	return m
}

// TestMaxExponent: the vector kernels' largest exponent field is the scalar loop's at every
// length round a vector, over values of every kind (subnormal, negative, ±0, the largest
// finite) and with a NaN or an infinity at each position in turn.
func TestMaxExponent(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 31))
	kinds := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-40, 1.2e-38, 1, -3, math.MaxFloat32, -math.MaxFloat32}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0xff800001)}
	for n := 0; n <= 80; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = kinds[r.IntN(len(kinds))] * float32(0.5+r.Float64()/2) // below 1: the largest stays finite
		}
		if got, want := MaxExponent(x), maxExponentTwin(x); got != want || want == approx.ExponentField {
			t.Fatalf("n %d: %#x, scalar %#x", n, got, want)
		}
		for at := range x {
			y := append([]float32(nil), x...)
			y[at] = bad[at%len(bad)]
			if got := MaxExponent(y); got != approx.ExponentField {
				t.Fatalf("n %d, %v at %d: %#x", n, y[at], at, got)
			}
		}
	}
}

func TestErfExpAccuracy(t *testing.T) {
	var worstErf, worstExp float64
	for x := -6.0; x <= 6; x += 1e-4 {
		worstErf = math.Max(worstErf, math.Abs(float64(Erf32(float32(x)))-math.Erf(float64(float32(x)))))
	}
	for x := -87.0; x <= 88; x += 1e-3 {
		want := math.Exp(float64(float32(x)))
		worstExp = math.Max(worstExp, math.Abs(float64(Exp32(float32(x)))-want)/want)
	}
	t.Logf("Erf32 max abs error %.3g, Exp32 max rel error %.3g", worstErf, worstExp)
	if worstErf > 5e-7 || worstExp > 3e-7 {
		t.Errorf("Erf32 error %.3g (limit 5e-7), Exp32 relative error %.3g (limit 3e-7)", worstErf, worstExp)
	}
	if !math.IsInf(float64(Exp32(89)), 1) || Exp32(-88) != 0 || Exp32(88.5) <= 0 || math.IsInf(float64(Exp32(88.5)), 1) {
		t.Errorf("Exp32 limits: %v %v %v", Exp32(89), Exp32(-88), Exp32(88.5))
	}
}

func FuzzExpShiftSum(f *testing.F) {
	f.Add(float32(0), float32(1), uint8(17))
	f.Fuzz(func(t *testing.T, base, spread float32, n uint8) {
		if math.IsNaN(float64(base)) || math.IsInf(float64(base), 0) || math.Abs(float64(spread)) > 50 || math.Abs(float64(base)) > 1e6 {
			return
		}
		x := make([]float32, int(n)+1)
		for i := range x {
			x[i] = base + spread*float32(i%7-3)
		}
		m := Max(x)
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		sa, sb := ExpShiftSum(a, 1, m), scalarExpSum(b, 1, m)
		if math.Abs(float64(sa-sb)) > 1e-5*float64(sb) {
			t.Fatalf("sum %v, scalar %v", sa, sb)
		}
	})
}

// TestAdd: the vector sum is the scalar one bit for bit, tails and neighbours included.
func TestAdd(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 100} {
		checkAdd(t, n, uint64(n))
	}
}

func checkAdd(t testing.TB, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	dst, src := make([]float32, n+2), make([]float32, n+2)
	for i := range dst {
		dst[i], src[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	want := append([]float32(nil), dst...)
	for i := 1; i <= n; i++ {
		want[i] += src[i]
	}
	Add(dst[1:n+1], src[1:])
	for i := range dst {
		if dst[i] != want[i] {
			t.Fatalf("n %d: dst[%d] = %v, want %v", n, i, dst[i], want[i])
		}
	}
}

// TestRows: AddRows and GELURows give every value of every row what Add and GELU give it, a
// row at a time (vector prefixes and scalar tails alike), and touch nothing between or past
// the rows.
func TestRows(t *testing.T) {
	for _, c := range []struct{ rows, n, ld int }{{1, 0, 0}, {0, 5, 5}, {1, 7, 7}, {3, 17, 20}, {14, 32, 32}, {4, 45, 61}, {2, 100, 100}} {
		checkRowKernels(t, c.rows, c.n, c.ld, uint64(c.rows*c.n+c.ld))
	}
}

func checkRowKernels(t testing.TB, rows, n, ld int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 12))
	const mark = -7.5
	size := max(0, (rows-1)*ld+n) + 16
	x, v := make([]float32, size), make([]float32, n)
	for i := range x {
		x[i] = mark
	}
	for i := range v {
		v[i] = float32(r.NormFloat64() * 3)
	}
	for row := range rows {
		for i := range n {
			x[row*ld+i] = float32(r.NormFloat64() * 4)
		}
	}
	for _, gelu := range []bool{false, true} {
		got, want := append([]float32(nil), x...), append([]float32(nil), x...)
		for row := range rows {
			if gelu {
				GELU(want[row*ld : row*ld+n])
			} else {
				Add(want[row*ld:row*ld+n], v)
			}
		}
		if gelu {
			GELURows(got, ld, rows, n)
		} else {
			AddRows(got, ld, rows, v)
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%d rows of %d, %d apart, gelu %v: [%d] = %v, want %v", rows, n, ld, gelu, i, got[i], want[i])
			}
		}
	}
}

func FuzzRows(f *testing.F) {
	f.Add(uint8(3), uint16(17), uint8(3), uint64(1))
	f.Fuzz(func(t *testing.T, rows uint8, n uint16, gap uint8, seed uint64) {
		nn := int(n) % 300
		checkRowKernels(t, int(rows)%20, nn, nn+int(gap)%40, seed)
	})
}

func FuzzAdd(f *testing.F) {
	f.Add(uint16(33), uint64(1))
	f.Fuzz(func(t *testing.T, n uint16, seed uint64) { checkAdd(t, int(n)%500, seed) })
}

// TestExpEdges: the vector exp agrees with Exp32 at the edges of its range and beyond it:
// flushing to 0 below ExpLo, overflowing to +Inf past ExpHi, ±Inf and NaN.
func TestExpEdges(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	edges := []float32{-inf, -1000, -88, approx.ExpLo, approx.ExpLo + 0.01, -87, -1e-30, 0, 1, 80, 88.3, 88.5, 88.7, approx.ExpHi, 88.73, 89, 1000, 1e6, 2.3e8, 3e38, inf, nan}
	x := make([]float32, 16*len(edges)) // each edge in a vector kernel's lanes
	for i := range x {
		x[i] = edges[i/16]
	}
	ExpShiftSum(x, 1, 0)
	for i, v := range x {
		want := Exp32(edges[i/16])
		switch {
		case math.IsNaN(float64(want)):
			if !math.IsNaN(float64(v)) {
				t.Fatalf("exp(%v) = %v, want NaN", edges[i/16], v)
			}
		case math.IsInf(float64(want), 1):
			if !math.IsInf(float64(v), 1) {
				t.Fatalf("exp(%v) = %v, want +Inf", edges[i/16], v)
			}
		case math.Abs(float64(v-want)) > 2e-7*float64(want)+1e-37:
			t.Fatalf("exp(%v) = %v, want %v", edges[i/16], v, want)
		}
	}
}

// TestNaNPropagates: a NaN anywhere in a slice makes Max NaN, as Go's max does, and the
// element-wise kernels keep it NaN instead of clamping it to a number.
func TestNaNPropagates(t *testing.T) {
	nan := float32(math.NaN())
	for _, n := range []int{4, 16, 37, 64} {
		for pos := 0; pos < n; pos++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%5) - 2
			}
			x[pos] = nan
			if m := Max(x); !math.IsNaN(float64(m)) {
				t.Fatalf("n %d, NaN at %d: Max %v", n, pos, m)
			}
			e := append([]float32(nil), x...)
			ExpShiftSum(e, 1, 0)
			g := append([]float32(nil), x...)
			GELU(g)
			if !math.IsNaN(float64(e[pos])) || !math.IsNaN(float64(g[pos])) {
				t.Fatalf("n %d, NaN at %d: exp %v, gelu %v", n, pos, e[pos], g[pos])
			}
		}
	}
}

// TestElementwiseRandom runs every element-wise kernel on 20,000 random slices of 1 to 70
// values spanning six decades, with random softmax scales, against the scalar twins: a
// deterministic stand-in for fuzzing where fuzzing cannot run (arm64 under qemu-user, whose
// fuzz workers cannot be started).
func TestElementwiseRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 1))
	for range 20000 {
		x := make([]float32, 1+r.IntN(70))
		scale := float32(math.Pow(10, r.Float64()*6-3))
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, r.Float64()*4-2))
		}
		m := Max(x)
		want := x[0]
		for _, v := range x {
			want = max(want, v)
		}
		if m != want {
			t.Fatalf("%v: Max %v, want %v", x, m, want)
		}
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		sa, sb := ExpShiftSum(a, scale, m*scale), scalarExpSum(b, scale, m*scale)
		if math.Abs(float64(sa-sb)) > 1e-5*math.Abs(float64(sb)) {
			t.Fatalf("%v scale %v: sum %v, scalar %v", x, scale, sa, sb)
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 2e-7*float64(b[i])+1e-37 {
				t.Fatalf("exp of %v at scale %v: %v, scalar %v", x[i], scale, a[i], b[i])
			}
		}
		g := append([]float32(nil), x...)
		GELU(g)
		for i, v := range x {
			exact := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
			if math.Abs(float64(g[i])-exact) > 4e-7*math.Abs(float64(v))+2e-7*math.Abs(exact) {
				t.Fatalf("gelu(%v) = %v, exact %v", v, g[i], exact)
			}
		}
		c := append([]float32(nil), x...)
		Scale(c, scale)
		d := append([]float32(nil), x...)
		Add(d, c)
		for i := range x {
			if c[i] != x[i]*scale || d[i] != x[i]+c[i] {
				t.Fatalf("%v·%v = %v, + itself %v", x[i], scale, c[i], d[i])
			}
		}
	}
}

// runLayerNormKernels compares SumF64, SquaresF64 and Normalize with the Go twins of their
// order (sum16 and the scalar loop), bit for bit, dst aliasing x or not.
func runLayerNormKernels(t *testing.T, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	x, g, b := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()*3 + 1)
		g[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	m := n &^ 15
	want := 0.0
	if m > 0 {
		want = sum16(x[:m], 0, false)
	}
	for _, v := range x[m:] {
		want += float64(v)
	}
	if got := SumF64(x); got != want {
		t.Fatalf("n %d: SumF64 %v, twin %v", n, got, want)
	}
	mean := want / float64(max(n, 1))
	wantSq := 0.0
	if m > 0 {
		wantSq = sum16(x[:m], mean, true)
	}
	for _, v := range x[m:] {
		d := float64(v) - mean
		wantSq += float64(d * d)
	}
	if got := SquaresF64(x, mean); got != wantSq {
		t.Fatalf("n %d: SquaresF64 %v, twin %v", n, got, wantSq)
	}
	rstd := 1 / math.Sqrt(wantSq/float64(max(n, 1))+1e-5)
	out := make([]float32, n+1) // one guard value past the end
	out[n] = 7
	Normalize(out[:n], x, g, b, mean, rstd)
	inPlace := append([]float32(nil), x...)
	Normalize(inPlace, inPlace, g, b, mean, rstd)
	for i := range n {
		w := float32(float64((float64(x[i])-mean)*rstd*float64(g[i])) + float64(b[i]))
		if out[i] != w || inPlace[i] != w {
			t.Fatalf("n %d: Normalize[%d] %v (in place %v), twin %v", n, i, out[i], inPlace[i], w)
		}
	}
	if out[n] != 7 {
		t.Fatalf("n %d: Normalize wrote past dst", n)
	}
}

func TestLayerNormKernels(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 100, 768, 1024, 1031} {
		runLayerNormKernels(t, n, uint64(n))
	}
	// The order is the lanes', folded in halves: lanes 0 and 8 cancel before lane 1's 1 meets
	// them (summed one by one, 2^60 + 1 would lose the 1 and give 0).
	x := make([]float32, 16)
	x[0], x[1], x[8] = 1<<60, 1, -(1 << 60)
	if s := SumF64(x); s != 1 {
		t.Fatalf("SumF64 %v, want 1", s)
	}
}

func FuzzLayerNormKernels(f *testing.F) {
	f.Add(uint16(1024), uint64(1))
	f.Add(uint16(37), uint64(2))
	f.Fuzz(func(t *testing.T, n uint16, seed uint64) {
		runLayerNormKernels(t, int(n)%3000, seed)
	})
}
