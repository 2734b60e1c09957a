package tensor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// TestMatMulBF16x3 checks that the split bfloat16 product is at least as accurate as the
// float32 one: against float64 sums, its largest error is no larger than the float32 kernel's
// on the same data (it adds products in pairs, so it measures smaller), at odd sizes and
// tails, with the fastest bfloat16 kernel and its pure-Go twin.
func TestMatMulBF16x3(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	kerns := []kernels.BF16{kernels.GenericBF16(4, 16)}
	if best := kernels.BestBF16(); !best.Emulated {
		kerns = append(kerns, best)
	}
	for _, kern := range kerns {
		// The last: taller than a tile, several passes over K and panels in several chunks a
		// worker, whose scratch (the split panel) each worker keeps from chunk to chunk.
		for _, sz := range [][3]int{{kern.MR + 1, 1, 1}, {17, 33, 40}, {31, 513, 35}, {29, 300, 64}, {kern.MR + 7, 600, 300}} {
			m, k, n := sz[0], sz[1], sz[2]
			a, b := randSlice(r, m*k), randSlice(r, n*k)
			p := NewPool(2)
			split := packSplit(p, nil, kern, b, n, k, k)
			f32 := pack(p, nil, float32Kernel(kern.NR), b, n, k, k, false)
			cs, cf := make([]float32, m*n), make([]float32, m*n)
			split.MatMul(p, cs, n, a, k, m)
			f32.MatMul(p, cf, n, a, k, m)
			var errSplit, errF32 float64
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want float64
					for q := 0; q < k; q++ {
						want += float64(a[i*k+q]) * float64(b[j*k+q])
					}
					errSplit = max(errSplit, math.Abs(float64(cs[i*n+j])-want))
					errF32 = max(errF32, math.Abs(float64(cf[i*n+j])-want))
				}
			}
			t.Logf("%s %dx%dx%d: max error bfloat16x3 %.3g, float32 %.3g", kern.Name, m, k, n, errSplit, errF32)
			if errSplit > errF32+1e-7 {
				t.Errorf("%s %dx%dx%d: bfloat16x3 error %.3g, float32 %.3g", kern.Name, m, k, n, errSplit, errF32)
			}
		}
	}
}

// TestMatMulBF16x3Residual: a product added to a residual in C much larger than itself (the
// vision encoder's ForwardAdd) is no less accurate in bfloat16x3 than in float32, on every
// bfloat16 kernel and on the AMX twin: each pass is summed apart and added to C once, as the
// float32 kernels do, rather than at every step of the kernel (AMX adds a step of 16 pairs into
// C, eight times a pass).
func TestMatMulBF16x3Residual(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	kerns := []kernels.BF16{kernels.GenericBF16(4, 16), kernels.GenericAMX(32, 32)}
	if best := kernels.BestBF16(); !best.Emulated {
		kerns = append(kerns, best)
	}
	m, k, n := 40, 1024, 40
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	residual := randSlice(r, m*n)
	for i := range residual {
		residual[i] *= 3000 // a hundred times a product's typical size, √1024
	}
	want := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			want[i*n+j] = float64(residual[i*n+j])
			for q := 0; q < k; q++ {
				want[i*n+j] += float64(a[i*k+q]) * float64(b[j*k+q])
			}
		}
	}
	maxErr := func(c []float32) float64 {
		e := 0.0
		for i := range c {
			e = max(e, math.Abs(float64(c[i])-want[i]))
		}
		return e
	}
	p := NewPool(2)
	for _, kern := range kerns {
		cs, cf := append([]float32(nil), residual...), append([]float32(nil), residual...)
		packSplit(p, nil, kern, b, n, k, k).MatMulEpilogue(p, cs, n, a, k, m, Epilogue{Accumulate: true})
		pack(p, nil, float32Kernel(kern.NR), b, n, k, k, false).MatMulEpilogue(p, cf, n, a, k, m, Epilogue{Accumulate: true})
		es, ef := maxErr(cs), maxErr(cf)
		t.Logf("%s: max error bfloat16x3 %.3g, float32 %.3g", kern.Name, es, ef)
		if es > ef {
			t.Errorf("%s: bfloat16x3 error %.3g over a residual, float32 %.3g", kern.Name, es, ef)
		}
	}
}

// TestLinearBF16x3Short checks that products of up to a tile of rows (decode steps) give the
// float32 layer's values exactly: they run the float32 kernel.
func TestLinearBF16x3Short(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	w, bias := randSlice(r, 70*300), randSlice(r, 70)
	p := NewPool(2)
	l32 := Linear{Weight: FromData(append([]float32(nil), w...), 70, 300), Bias: FromData(bias, 70)}
	lx3 := Linear{Weight: FromData(append([]float32(nil), w...), 70, 300), Bias: FromData(bias, 70)}
	l32.Prepare(p, nil, Float32, nil)
	lx3.Prepare(p, nil, BFloat16x3, nil)
	for _, m := range []int{1, 3} {
		x := FromData(randSlice(r, m*300), m, 300)
		y32, yx3 := New(m, 70), New(m, 70)
		l32.Forward(p, y32, x)
		lx3.Forward(p, yx3, x)
		for i := range y32.Data {
			if y32.Data[i] != yx3.Data[i] {
				t.Fatalf("m %d: bfloat16x3 %v, float32 %v at %d", m, yx3.Data[i], y32.Data[i], i)
			}
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for _, pr := range []Precision{Float32, BFloat16, BFloat16x3} {
		if got, err := ParsePrecision(pr.String()); err != nil || got != pr {
			t.Errorf("ParsePrecision(%q) = %v, %v", pr, got, err)
		}
	}
	if _, err := ParsePrecision("fp8"); err == nil {
		t.Error("ParsePrecision(fp8): no error")
	}
}

// TestNoEmulatedBFloat16: without bfloat16 instructions both bfloat16 precisions run the
// float32 kernel, never the slow pure-Go bfloat16 one: BFloat16x3 gives float32's results,
// and so does BFloat16 unless it stores bfloat16 weights for the float32 kernel (AVX2 and
// AVX-512 CPUs: TestHalfWeights).
func TestNoEmulatedBFloat16(t *testing.T) {
	if !kernels.BestBF16().Emulated {
		t.Skip("this CPU has bfloat16 instructions")
	}
	r := rand.New(rand.NewPCG(14, 14))
	w, x := randSlice(r, 40*70), FromData(randSlice(r, 3*70), 3, 70)
	want := New(3, 40)
	for _, pr := range []Precision{Float32, BFloat16, BFloat16x3} {
		if pr.halfWeights() {
			if got, want := pr.Kernel(), Float32.Kernel()+" (bfloat16 weights"; !strings.HasPrefix(got, want) {
				t.Errorf("%v runs %s, want %s…)", pr, got, want)
			}
			continue
		}
		if pr.Kernel() != Float32.Kernel() {
			t.Errorf("%v runs %s, float32 %s", pr, pr.Kernel(), Float32.Kernel())
		}
		l := Linear{Weight: FromData(append([]float32(nil), w...), 40, 70)}
		l.Prepare(nil, nil, pr, nil)
		y := New(3, 40)
		l.Forward(nil, y, x)
		if pr == Float32 {
			want = y
		}
		for i := range y.Data {
			if y.Data[i] != want.Data[i] {
				t.Fatalf("%v: %v, float32 %v at %d", pr, y.Data[i], want.Data[i], i)
			}
		}
	}
}

// TestWeightRow: a prepared float32 (or bfloat16x3) layer gives back any row of its weight
// exactly from the packed panels, tails included; a bfloat16 layer (pairs, or bfloat16
// weights) says it cannot.
func TestWeightRow(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, sz := range [][2]int{{1, 1}, {33, 300}, {70, 513}} {
		out, in := sz[0], sz[1]
		w := randSlice(r, out*in)
		for _, prec := range []Precision{Float32, BFloat16x3, BFloat16} {
			l := Linear{Weight: FromData(append([]float32(nil), w...), out, in), Bias: FromData(make([]float32, out), out)}
			l.Prepare(NewPool(2), nil, prec, nil)
			row := make([]float32, in)
			for _, n := range []int{0, out / 2, out - 1} {
				ok := l.WeightRow(n, row)
				if prec == BFloat16 && prec.Kernel() != Float32.Kernel() {
					if ok {
						t.Fatalf("%v: a bfloat16 layer gave row %d", prec, n)
					}
					continue
				}
				if !ok {
					t.Fatalf("%v %dx%d: row %d refused", prec, out, in, n)
				}
				for k, v := range row {
					if v != w[n*in+k] {
						t.Fatalf("%v %dx%d: row %d [%d] = %v, want %v", prec, out, in, n, k, v, w[n*in+k])
					}
				}
			}
		}
	}
}

// roundedBF16 is w with every value rounded to bfloat16 (as float32).
func roundedBF16(w []float32) []float32 {
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = math.Float32frombits(uint32(kernels.ToBF16(v)) << 16)
	}
	return out
}

// checkHalfPacked fails unless a product over bfloat16-stored panels of random B [n, k]
// (packHalf, kernel kern; read from its transpose [k, n] when transposed, as attention's values
// are) gives, bit for bit, what the same kernel gives over float32 panels of the
// bfloat16-rounded B, with A of m rows (row stride lda) into C of row stride n+3, for every
// epilogue, on pool p; C's values past its columns must stay as they were.
func checkHalfPacked(t testing.TB, r *rand.Rand, p *Pool, kern kernels.Kernel, m, k, n, lda int, transposed bool) {
	b, bias := randSlice(r, n*k), randSlice(r, n)
	a := randSlice(r, (m-1)*lda+k)
	ldb := k
	if transposed {
		ldb = n
	}
	half := packHalf(p, nil, kern, b, n, k, ldb, transposed)
	want := pack(p, nil, kern, roundedBF16(b), n, k, ldb, transposed)
	for _, ep := range []Epilogue{{}, {Bias: bias, GELU: true}, {Accumulate: true, Bias: bias}} {
		ldc := n + 3
		c0 := randSlice(r, m*ldc)
		got, ref := append([]float32(nil), c0...), append([]float32(nil), c0...)
		half.MatMulEpilogue(p, got, ldc, a, lda, m, ep)
		want.MatMulEpilogue(p, ref, ldc, a, lda, m, ep)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("%s %dx%dx%d lda %d %+v: [%d] = %v, rounded float32 panels %v", kern.Name, m, k, n, lda, ep, i, got[i], ref[i])
			}
		}
	}
}

// TestHalfPacked: products over bfloat16-stored panels, for every float32 kernel this CPU runs
// (the pure-Go one included): short A (the kernels' bfloat16-panel form) and tall (panels
// widened once), a row stride that aliases (A copied apart) and one that does not, tails of N
// and of K past a pass, B read from its rows and from its columns, on a pool and on the caller
// alone (see checkHalfPacked).
func TestHalfPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	for _, kern := range kernels.Available() {
		for _, sz := range [][3]int{{1, 1, 1}, {3, 300, 70}, {kern.MR, 33, kern.NR}, {kern.MR + 1, 513, 2*kern.NR + 3}, {40, 512, 33}} {
			m, k, n := sz[0], sz[1], sz[2]
			for _, lda := range []int{k, k + 5} {
				for _, p := range []*Pool{nil, NewPool(2)} {
					for _, transposed := range []bool{false, true} {
						checkHalfPacked(t, r, p, kern, m, k, n, lda, transposed)
					}
				}
			}
		}
	}
}

// FuzzHalfPacked is TestHalfPacked at random shapes, with the fastest kernel.
func FuzzHalfPacked(f *testing.F) {
	f.Add(uint16(1), uint16(1), uint16(1), uint8(0), uint64(1))
	f.Add(uint16(30), uint16(257), uint16(65), uint8(5), uint64(2))
	f.Fuzz(func(t *testing.T, m, k, n uint16, extra uint8, seed uint64) {
		mm, kk, nn := int(m)%40+1, int(k)%600+1, int(n)%150+1
		checkHalfPacked(t, rand.New(rand.NewPCG(seed, 4)), NewPool(2), kernels.Best(), mm, kk, nn, kk+int(extra)%20, extra&32 != 0)
	})
}

// TestHalfWeights: where BFloat16 stores bfloat16 weights (CPUs with AVX2 or AVX-512 and no
// bfloat16 products), a BFloat16 layer computes the Float32 layer of the rounded weights bit
// for bit, takes half its weight bytes, and names its kernel so.
func TestHalfWeights(t *testing.T) {
	if !BFloat16.halfWeights() {
		t.Skipf("BFloat16 runs %s here", BFloat16.Kernel())
	}
	r := rand.New(rand.NewPCG(16, 16))
	w, bias := randSlice(r, 70*1024), randSlice(r, 70)
	p := NewPool(2)
	l16 := Linear{Weight: FromData(append([]float32(nil), w...), 70, 1024), Bias: FromData(append([]float32(nil), bias...), 70)}
	ref := Linear{Weight: FromData(roundedBF16(w), 70, 1024), Bias: FromData(append([]float32(nil), bias...), 70)}
	l16.Prepare(p, nil, BFloat16, nil)
	ref.Prepare(p, nil, Float32, nil)
	if got, want := l16.Bytes(), (ref.Bytes()-4*70)/2+4*70; got != want {
		t.Errorf("bfloat16 weights take %d bytes, want %d", got, want)
	}
	for _, m := range []int{1, 3, 100} {
		x := FromData(randSlice(r, m*1024), m, 1024)
		got, want := New(m, 70), New(m, 70)
		l16.ForwardGELU(p, got, x)
		ref.ForwardGELU(p, want, x)
		for i := range got.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("m %d: [%d] = %v, float32 of the rounded weights %v", m, i, got.Data[i], want.Data[i])
			}
		}
	}
}
