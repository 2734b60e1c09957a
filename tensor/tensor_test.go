package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// guard surrounds a destination with sentinel values that no kernel may touch.
const guardVal = float32(-12345.5)

func guarded(n, pad int) (full, inner []float32) {
	full = make([]float32, n+2*pad)
	for i := range full {
		full[i] = guardVal
	}
	return full, full[pad : pad+n]
}

func checkGuards(t *testing.T, full []float32, pad int) {
	t.Helper()
	for i := 0; i < pad; i++ {
		if full[i] != guardVal || full[len(full)-1-i] != guardVal {
			t.Fatalf("kernel wrote outside its destination")
		}
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// TestMatMulTReference compares with the plain triple loop at odd sizes, tails and thread
// counts, with guard values around the output.
func TestMatMulTReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {17, 33, 9}, {64, 64, 64}, {1, 768, 30524 / 16}, {577, 48, 31}, {5, 129, 257}} {
		m, k, n := sz[0], sz[1], sz[2]
		a, b := randSlice(r, m*k), randSlice(r, n*k)
		for _, threads := range []int{1, 2, 3} {
			full, c := guarded(m*n, 7)
			MatMulT(NewPool(threads), c, a, b, m, k, n)
			checkGuards(t, full, 7)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want float64
					for p := 0; p < k; p++ {
						want += float64(a[i*k+p]) * float64(b[j*k+p])
					}
					if !near(float64(c[i*n+j]), want, 1e-4) {
						t.Fatalf("%dx%dx%d threads %d: c[%d,%d] = %v, want %v", m, k, n, threads, i, j, c[i*n+j], want)
					}
				}
			}
		}
	}
}

func TestLinearBias(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	l := Linear{Weight: FromData(randSlice(r, 6*5), 6, 5), Bias: FromData(randSlice(r, 6), 6)}
	x := FromData(randSlice(r, 3*5), 3, 5)
	y := New(3, 6)
	l.Forward(NewPool(2), y, x)
	for i := 0; i < 3; i++ {
		for o := 0; o < 6; o++ {
			want := float64(l.Bias.Data[o])
			for p := 0; p < 5; p++ {
				want += float64(x.Data[i*5+p]) * float64(l.Weight.Data[o*5+p])
			}
			if !near(float64(y.Data[i*6+o]), want, 1e-5) {
				t.Fatalf("y[%d,%d] = %v, want %v", i, o, y.Data[i*6+o], want)
			}
		}
	}
}

func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 37
	ln := LayerNorm{Weight: FromData(randSlice(r, n), n), Bias: FromData(randSlice(r, n), n), Eps: 1e-5}
	x := FromData(randSlice(r, 4*n), 4, n)
	y := New(4, n)
	ln.Forward(NewPool(3), y, x)
	for i := 0; i < 4; i++ {
		row := x.Row(i)
		var mean, v float64
		for _, e := range row {
			mean += float64(e)
		}
		mean /= float64(n)
		for _, e := range row {
			v += (float64(e) - mean) * (float64(e) - mean)
		}
		v /= float64(n)
		for j, e := range row {
			want := (float64(e)-mean)/math.Sqrt(v+1e-5)*float64(ln.Weight.Data[j]) + float64(ln.Bias.Data[j])
			if !near(float64(y.Row(i)[j]), want, 1e-6) {
				t.Fatalf("y[%d,%d] = %v, want %v", i, j, y.Row(i)[j], want)
			}
		}
	}
}

func TestGELUAndSoftmax(t *testing.T) {
	x := []float32{-3, -0.5, 0, 0.5, 3}
	GELU(nil, x)
	want := []float64{-0.00404969, -0.15426877, 0, 0.34573123, 2.99595031}
	for i := range x {
		if !near(float64(x[i]), want[i], 1e-6) {
			t.Errorf("gelu[%d] = %v, want %v", i, x[i], want[i])
		}
	}
	s := []float32{1, 2, 3, 1000}
	Softmax(s)
	if !near(float64(s[3]), 1, 1e-7) || s[0] != 0 {
		t.Errorf("softmax of a large value: %v", s)
	}
	l := []float32{1, 2, 3}
	LogSoftmax(l)
	var sum float64
	for _, v := range l {
		sum += math.Exp(float64(v))
	}
	if !near(sum, 1, 1e-6) {
		t.Errorf("log softmax does not normalise: %v", l)
	}
}

// TestAttentionReference checks strided multi-head attention, causal and not, against a
// direct computation.
func TestAttentionReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		heads, hd, tq, s int
		causal           bool
	}{{1, 4, 1, 1, false}, {3, 5, 4, 7, false}, {4, 8, 3, 6, true}, {2, 3, 5, 5, true}} {
		stride := c.heads*c.hd + 3 // padding columns, as in a fused projection
		q, k, v := randSlice(r, c.tq*stride), randSlice(r, c.s*stride), randSlice(r, c.s*stride)
		a := Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: float32(1 / math.Sqrt(float64(c.hd))), Causal: c.causal}
		for _, threads := range []int{1, 2} {
			p := NewPool(threads)
			full, dst := guarded(c.tq*stride, 5)
			a.Forward(p, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, c.tq, c.s, make([]float32, p.Size()*c.tq*c.s))
			checkGuards(t, full, 5)
			for h := 0; h < c.heads; h++ {
				for i := 0; i < c.tq; i++ {
					seen := c.s
					if c.causal {
						seen = c.s - c.tq + i + 1
					}
					w := make([]float64, seen)
					var mx, sum float64 = math.Inf(-1), 0
					for j := range w {
						for d := 0; d < c.hd; d++ {
							w[j] += float64(q[i*stride+h*c.hd+d]) * float64(k[j*stride+h*c.hd+d])
						}
						w[j] *= float64(a.Scale)
						mx = math.Max(mx, w[j])
					}
					for j := range w {
						w[j] = math.Exp(w[j] - mx)
						sum += w[j]
					}
					for d := 0; d < c.hd; d++ {
						var want float64
						for j := range w {
							want += w[j] / sum * float64(v[j*stride+h*c.hd+d])
						}
						if got := dst[i*stride+h*c.hd+d]; !near(float64(got), want, 1e-5) {
							t.Fatalf("%+v head %d q %d d %d: %v, want %v", c, h, i, d, got, want)
						}
					}
				}
			}
		}
	}
}

func TestPoolCoversRange(t *testing.T) {
	for _, n := range []int{0, 1, 5, 100} {
		for _, w := range []int{1, 2, 7} {
			hits := make([]int, n)
			NewPool(w).ForGrain(n, 3, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					hits[i]++
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n %d workers %d: index %d visited %d times", n, w, i, h)
				}
			}
		}
	}
}

func BenchmarkMatMulT577x1024x4096(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	m, k, n := 577, 1024, 4096
	a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	p := NewPool(0)
	b.SetBytes(0)
	for b.Loop() {
		MatMulT(p, c, a, w, m, k, n)
	}
	b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkMatVec768x30524(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	k, n := 768, 30524
	a, w, c := randSlice(r, k), randSlice(r, n*k), make([]float32, n)
	p := NewPool(0)
	for b.Loop() {
		MatMulT(p, c, a, w, 1, k, n)
	}
	b.ReportMetric(float64(4*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
