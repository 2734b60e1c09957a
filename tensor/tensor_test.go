package tensor

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
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

// TestMatMulReference compares every kernel's product with the plain triple loop at odd sizes,
// tails, strides and thread counts, with guard values around the output, for B packed from
// both layouts. The last sizes give A a row stride of 2 or 4 KiB with more rows than a tile,
// which MatMul reads in place or copies into a padded stride first: every kernel runs both
// ways (Kernel.InPlaceA).
func TestMatMulReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kern := range bothWaysA(kernels.Available()) {
		for _, sz := range [][4]int{{1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {17, 33, 9}, {15, 300, 33}, {64, 64, 64}, {1, 768, 100}, {29, 48, 31}, {5, 513, 65},
			{20, 300, 40, 512}, {33, 700, 17, 1024}} {
			m, k, n := sz[0], sz[1], sz[2]
			lda, ldb, ldc := k+3, k+1, n+2
			if sz[3] > 0 {
				lda = sz[3]
				if m <= kern.MR || !aliasing(lda) {
					t.Fatalf("size %v: A's rows do not alias for %s", sz, kern.Name)
				}
			}
			a, b := randSlice(r, m*lda), randSlice(r, n*ldb)
			bt := make([]float32, k*(n+4)) // the same B stored [K, N] with row stride n+4
			for i := 0; i < n; i++ {
				for q := 0; q < k; q++ {
					bt[q*(n+4)+i] = b[i*ldb+q]
				}
			}
			for _, threads := range []int{1, 2, 3} {
				p := NewPool(threads)
				for _, transposed := range []bool{false, true} {
					var pm *Packed
					if transposed {
						pm = pack(p, nil, kern, bt, n, k, n+4, true)
					} else {
						pm = pack(p, nil, kern, b, n, k, ldb, false)
					}
					full, c := guarded((m-1)*ldc+n, 7)
					pm.MatMul(p, c, ldc, a, lda, m)
					checkGuards(t, full, 7)
					for i := 0; i < m; i++ {
						for j := 0; j < ldc && i*ldc+j < len(c); j++ {
							if j >= n {
								if c[i*ldc+j] != guardVal {
									t.Fatalf("%s (A in place %v): wrote into the row padding", kern.Name, kern.InPlaceA)
								}
								continue
							}
							var want float64
							for q := 0; q < k; q++ {
								want += float64(a[i*lda+q]) * float64(b[j*ldb+q])
							}
							if !near(float64(c[i*ldc+j]), want, 1e-4) {
								t.Fatalf("%s (A in place %v) %dx%dx%d threads %d transposed %v: c[%d,%d] = %v, want %v", kern.Name, kern.InPlaceA, m, k, n, threads, transposed, i, j, c[i*ldc+j], want)
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulDepths: products packed with passes of other depths than kcBlock (the depths
// BenchmarkMatMulDepth compares) give the product, through the A-copy path too (lda 1024),
// and their panels give back B's rows.
func TestMatMulDepths(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 17))
	m, k, n := 33, 1024, 70
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	p := NewPool(2)
	for _, depth := range []int{100, 128, 336, 512, 2000} {
		pm := packDepth(p, nil, kernels.Best(), b, n, k, k, false, depth)
		c := make([]float32, m*n)
		pm.MatMul(p, c, n, a, k, m)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var want float64
				for q := 0; q < k; q++ {
					want += float64(a[i*k+q]) * float64(b[j*k+q])
				}
				if !near(float64(c[i*n+j]), want, 1e-4) {
					t.Fatalf("depth %d: c[%d,%d] = %v, want %v", depth, i, j, c[i*n+j], want)
				}
			}
		}
		row := make([]float32, k)
		if !pm.row(n-1, row) || !slices.Equal(row, b[(n-1)*k:]) {
			t.Fatalf("depth %d: row %d of B not given back", depth, n-1)
		}
	}
}

// FuzzMatMul: the fastest kernel agrees with the pure-Go one on random shapes.
func FuzzMatMul(f *testing.F) {
	f.Add(uint16(1), uint16(1), uint16(1), uint64(1))
	f.Add(uint16(30), uint16(257), uint16(33), uint64(2))
	f.Fuzz(func(t *testing.T, m, k, n uint16, seed uint64) {
		mm, kk, nn := int(m)%40+1, int(k)%600+1, int(n)%100+1
		r := rand.New(rand.NewPCG(seed, 3))
		a, b := randSlice(r, mm*kk), randSlice(r, nn*kk)
		got, want := make([]float32, mm*nn), make([]float32, mm*nn)
		Pack(NewPool(2), b, nn, kk, kk, false).MatMul(NewPool(2), got, nn, a, kk, mm)
		pack(nil, nil, kernels.Generic(4, 16), b, nn, kk, kk, false).MatMul(nil, want, nn, a, kk, mm)
		for i := range got {
			if !near(float64(got[i]), float64(want[i]), 1e-4) {
				t.Fatalf("%dx%dx%d: [%d] %v, pure Go %v", mm, kk, nn, i, got[i], want[i])
			}
		}
	})
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

// BenchmarkLayerNorm normalises the vision encoder's hidden states (577 rows of 1024) on one
// worker: 49 such calls a caption.
func BenchmarkLayerNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 7))
	m, n := 577, 1024
	ln := LayerNorm{Weight: FromData(randSlice(r, n), n), Bias: FromData(randSlice(r, n), n), Eps: 1e-12}
	x, y := FromData(randSlice(r, m*n), m, n), New(m, n)
	p := NewPool(1)
	for b.Loop() {
		ln.Forward(p, y, x)
	}
	b.ReportMetric(float64(m*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
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

// TestLogSoftmax: against log-softmax in float64 (math.Exp, math.Log) at lengths around the
// chunks LogSoftmax sums a piece at a time, BLIP's vocabulary among them, logits spread as a
// decoder's are and as a peaked distribution's: within 2 ulps of the reference rounded to
// float32, plus 2e-7 (the float32 exponentials' error in the normaliser).
func TestLogSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	for _, n := range []int{1, 7, 16, 1023, 1024, 1025, 3000, 30524} {
		for _, spread := range []float64{3, 30} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * spread)
			}
			m := math.Inf(-1)
			for _, v := range x {
				m = max(m, float64(v))
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - m)
			}
			lse := m + math.Log(sum)
			got := slices.Clone(x)
			LogSoftmax(got)
			for i, v := range got {
				want := float64(x[i]) - lse
				ulp := float64(math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1))) - float32(math.Abs(want)))
				if d := math.Abs(float64(v) - want); d > 2*ulp+2e-7 {
					t.Fatalf("n %d, spread %v: [%d] = %v, float64 reference %v (off by %.3g, %.1f ulps)", n, spread, i, v, want, d, d/ulp)
				}
			}
		}
	}
}

// TestSiLU: x / (1 + e^-x) within 2 ulps of float64's (here and past the vector kernels'
// chunks, on 2 workers, values from -87 to 87 and around 0); below -88, where e^-x saturates,
// zero or a tiny number, of x's sign.
func TestSiLU(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 23))
	x := make([]float32, 5000)
	for i := range x {
		switch i % 3 {
		case 0:
			x[i] = float32(r.NormFloat64() * 4)
		case 1:
			x[i] = float32(r.NormFloat64() * 1e-3)
		default:
			x[i] = float32(r.Float64()*174 - 87)
		}
	}
	x = append(x, 0, -88.5, -100, 100, 1e-30)
	got := slices.Clone(x)
	SiLU(NewPool(2), got)
	worst := 0.0
	for i, v := range x {
		want := float64(v) / (1 + math.Exp(-float64(v)))
		if v < -88 {
			if !math.Signbit(float64(got[i])) || got[i] < -1e-35 {
				t.Errorf("silu(%v) = %v, want -0 or a tiny negative number", v, got[i])
			}
			continue
		}
		ulp := float64(math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1))) - float32(math.Abs(want)))
		d := math.Abs(float64(got[i])-want) / ulp
		worst = max(worst, d)
		if d > 2 {
			t.Errorf("silu(%v) = %v, float64 %v: %.1f ulps", v, got[i], want, d)
		}
	}
	t.Logf("worst %.2f ulps", worst)
}

// BenchmarkLogSoftmax times one row of BLIP's vocabulary, what beam search takes of every beam
// at every step.
func BenchmarkLogSoftmax(b *testing.B) {
	r := rand.New(rand.NewPCG(22, 22))
	x := randSlice(r, 30524)
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		LogSoftmax(y)
	}
}

// TestAttentionDirtyScratch: Forward packs keys and values into its scratch, so a scratch full
// of what a previous layer left (here NaNs, in the padding of the last panel of keys too) gives
// the same bits as a fresh one.
func TestAttentionDirtyScratch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const heads, hd, n = 3, 16, 45 // 45 keys: the last panel of keys is padded
	stride := 3 * heads * hd
	qkv := randSlice(r, n*stride)
	a := Attention{NumHeads: heads, HeadDim: hd, Scale: 0.25}
	p := NewPool(2)
	run := func(scratch []float32) []float32 {
		dst := make([]float32, n*heads*hd)
		a.Forward(p, Heads{dst, heads * hd}, Heads{qkv, stride}, Heads{qkv[heads*hd:], stride}, Heads{qkv[2*heads*hd:], stride}, n, n, scratch)
		return dst
	}
	want := run(make([]float32, a.ScratchSize(p, n, n)))
	dirty := make([]float32, a.ScratchSize(p, n, n))
	for i := range dirty {
		dirty[i] = float32(math.NaN())
	}
	for round := range 2 { // and the same scratch again, as the next layer reuses it
		got := run(dirty)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("round %d: dst[%d] = %v with a dirty scratch, %v with a fresh one", round, i, got[i], want[i])
			}
		}
	}
}

// TestKVCache grows caches (NewKVCache, Put) a few positions at a time and checks that
// ForwardKV over them gives what Forward gives over the same keys and values packed at once,
// bit for bit, at every step (checkKVCache): heads wider than a pass (keys in several
// passes), caches longer than a pass (values in several), capacities that are not a whole
// number of panels, causal and not, one and two workers.
func TestKVCache(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		heads, hd, capacity int
		steps               []int // positions put at each step
		causal              bool
	}{{2, 8, 5, []int{1, 1, 1, 1, 1}, true}, {3, 64, 40, []int{7, 1, 1, 3, 1, 1}, true},
		{1, 300, 37, []int{2, 1, 1, 33}, false}, {2, 16, 600, []int{250, 1, 5, 1, 300, 1}, true},
		{12, 64, 20, []int{4, 1, 1, 1, 1, 1, 1, 1}, true}} {
		for _, threads := range []int{1, 2} {
			checkKVCache(t, r, NewPool(threads), c.heads, c.hd, c.capacity, c.steps, c.causal)
		}
	}
}

// FuzzKVCache is TestKVCache's check on shapes and steps of the fuzzer's choosing.
func FuzzKVCache(f *testing.F) {
	f.Add(uint8(2), uint16(8), []byte{1, 1, 1}, false, uint64(1))
	f.Add(uint8(3), uint16(300), []byte{200, 1, 90, 3}, true, uint64(2))
	f.Fuzz(func(t *testing.T, heads uint8, hd uint16, steps []byte, causal bool, seed uint64) {
		h, d := int(heads)%4+1, int(hd)%320+1
		var ns []int
		total := 0
		for _, n := range steps[:min(len(steps), 8)] {
			ns = append(ns, int(n)%300+1)
			total += ns[len(ns)-1]
		}
		if len(ns) == 0 {
			return
		}
		checkKVCache(t, rand.New(rand.NewPCG(seed, 5)), NewPool(2), h, d, total+int(seed%40), ns, causal)
	})
}

// checkKVCache puts steps[i] positions at a time into a cache of the given capacity and, at
// every step, compares ForwardKV over it with Forward over all the keys and values so far, bit
// for bit. The first step is taken twice, other values first (as after a cancelled step);
// halfway, CopyFrom (beam search's reordering) copies the cache over another that held other,
// longer contents, and the copy must go on as its source does.
func checkKVCache(t *testing.T, r *rand.Rand, p *Pool, heads, hd, capacity int, steps []int, causal bool) {
	t.Helper()
	stride := heads*hd + 5
	total := 0
	for _, n := range steps {
		total += n
	}
	k, v, q := randSlice(r, total*stride), randSlice(r, total*stride), randSlice(r, total*stride)
	other := randSlice(r, capacity*stride+2) // what a reused cache held before
	a := Attention{NumHeads: heads, HeadDim: hd, Scale: 0.3, Causal: causal}
	name := fmt.Sprintf("%d heads of %d, room %d, steps %v, causal %v, %d workers", heads, hd, capacity, steps, causal, p.Size())
	cache, copied := a.NewKVCache(capacity), a.NewKVCache(capacity)
	a.Put(p, copied, 0, Heads{other, stride}, Heads{other[1:], stride}, capacity)
	half := len(steps) / 2
	s := 0
	for step, n := range steps {
		if step == 0 {
			a.Put(p, cache, s, Heads{other, stride}, Heads{other[2:], stride}, n)
		}
		a.Put(p, cache, s, Heads{k[s*stride:], stride}, Heads{v[s*stride:], stride}, n)
		switch {
		case step == half:
			copied.CopyFrom(cache)
		case step > half:
			a.Put(p, copied, s, Heads{k[s*stride:], stride}, Heads{v[s*stride:], stride}, n)
		}
		s += n
		want := make([]float32, n*stride)
		a.Forward(p, Heads{want, stride}, Heads{q[(s-n)*stride:], stride}, Heads{k, stride}, Heads{v, stride}, n, s, make([]float32, a.ScratchSize(p, n, s)))
		for _, kv := range []*KV{cache, copied} {
			if kv == copied && step < half {
				continue
			}
			if kv.S != s || kv.Capacity() != capacity {
				t.Fatalf("%s, step %d: a cache holds %d positions (room %d), want %d (%d)", name, step, kv.S, kv.Capacity(), s, capacity)
			}
			full, got := guarded(n*stride, 5)
			a.ForwardKV(p, Heads{got, stride}, Heads{q[(s-n)*stride:], stride}, kv, n, make([]float32, a.ScratchSizeKV(p, n, s)))
			checkGuards(t, full, 5)
			for i := range want {
				if i%stride < heads*hd && math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, step %d (copied %v): [%d] %v, Forward %v", name, step, kv == copied, i, got[i], want[i])
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("%s: putting past the capacity did not panic", name)
		}
	}()
	a.Put(p, cache, s, Heads{k, stride}, Heads{v, stride}, capacity-s+1)
}

// TestAttentionReference checks strided multi-head attention, causal and not, against a
// direct computation: in float32 (Forward), and over keys and values packed by PackKV under
// BFloat16 (ForwardKV), where the reference rounds q, k, v and the attention weights to
// bfloat16 as autocast does and computes the rest in float64. Where the CPU has no bfloat16
// pairs, BFloat16's PackKV must give Forward's results bit for bit: over the keys and values
// rounded to bfloat16 where BFloat16 stores weights so (halfWeights), over them as they are
// where it packs float32 (no fast widening: the pure-Go build).
func TestAttentionReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	exact := func(x float32) float64 { return float64(x) }
	bf16 := func(x float32) float64 { return float64(math.Float32frombits(uint32(kernels.ToBF16(x)) << 16)) }
	for _, c := range []struct {
		heads, hd, tq, s int
		causal           bool
	}{{1, 4, 1, 1, false}, {3, 5, 4, 7, false}, {4, 8, 3, 6, true}, {2, 3, 5, 5, true},
		{2, 16, 130, 140, true}, {3, 8, 71, 71, false}, {1, 512, 20, 512, false}, // several blocks of queries; strides of 2 KiB
		{12, 64, 1, 577, false}, {2, 64, 3, 577, false}, // decode steps' cross-attention to an image
		{2, 4, 0, 3, false}} { // no query
		stride := c.heads*c.hd + 3 // padding columns, as in a fused projection
		q, k, v := randSlice(r, c.tq*stride), randSlice(r, c.s*stride), randSlice(r, c.s*stride)
		a := Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: float32(1 / math.Sqrt(float64(c.hd))), Causal: c.causal}
		for _, threads := range []int{1, 2} {
			p := NewPool(threads)
			full, dst := guarded(c.tq*stride, 5)
			a.Forward(p, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, c.tq, c.s, make([]float32, a.ScratchSize(p, c.tq, c.s)))
			checkGuards(t, full, 5)
			checkAttention(t, fmt.Sprintf("%+v float32 %d threads", c, threads), a, dst, q, k, v, stride, c.tq, c.s, exact, 1e-5)

			kv := a.PackKV(p, BFloat16, Heads{k, stride}, Heads{v, stride}, c.s)
			fullKV, dstKV := guarded(c.tq*stride, 5)
			a.ForwardKV(p, Heads{dstKV, stride}, Heads{q, stride}, kv, c.tq, make([]float32, a.ScratchSize(p, c.tq, c.s)))
			checkGuards(t, fullKV, 5)
			if BFloat16.halfWeights() {
				// Keys and values stored as bfloat16 for the float32 kernels: Forward over
				// them rounded, bit for bit.
				round := func(x []float32) []float32 {
					r := make([]float32, len(x))
					for i, v := range x {
						r[i] = float32(bf16(v))
					}
					return r
				}
				_, want := guarded(c.tq*stride, 5)
				a.Forward(p, Heads{want, stride}, Heads{q, stride}, Heads{round(k), stride}, Heads{round(v), stride}, c.tq, c.s, make([]float32, a.ScratchSize(p, c.tq, c.s)))
				for i := range want {
					if math.Float32bits(dstKV[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v: PackKV(BFloat16) over bfloat16 keys and values gives [%d] %v, float32 attention over them %v", c, i, dstKV[i], want[i])
					}
				}
				continue
			}
			if BFloat16.KVBytes() == 4 {
				for i := range dst {
					if math.Float32bits(dstKV[i]) != math.Float32bits(dst[i]) {
						t.Fatalf("%+v: without bfloat16 pairs PackKV(BFloat16) gives [%d] %v, float32 %v", c, i, dstKV[i], dst[i])
					}
				}
				continue
			}
			// Packed for the kernel of a few rows' products: on AMX CPUs VDPBF16PS (RowsBF16).
			if got, want := kv.K[0].bf16.Name, kernels.RowsBF16().Name; got != want || kv.V[0].bf16.Name != want {
				t.Fatalf("%+v: PackKV(BFloat16) packed for %s and %s, want %s", c, got, kv.V[0].bf16.Name, want)
			}
			// The float32 sums of exact bfloat16 products differ from float64's by a few
			// float32 roundings; where the float32 softmax and float64's straddle a bfloat16
			// boundary, a weight rounds the other way, one unit in 256 of that term (the
			// worst here, seeded: 1.7e-4).
			checkAttention(t, fmt.Sprintf("%+v bfloat16 %d threads", c, threads), a, dstKV, q, k, v, stride, c.tq, c.s, bf16, 2e-3)
		}
	}
}

// checkAttention compares dst with attention over q, k, v (row stride stride) computed in
// float64 from values passed through round; the attention weights go through round too.
func checkAttention(t *testing.T, what string, a Attention, dst, q, k, v []float32, stride, tq, s int, round func(float32) float64, tol float64) {
	t.Helper()
	worst := 0.0
	for h := 0; h < a.NumHeads; h++ {
		for i := 0; i < tq; i++ {
			seen := s
			if a.Causal {
				seen = s - tq + i + 1
			}
			w := make([]float64, seen)
			var mx, sum float64 = math.Inf(-1), 0
			for j := range w {
				for d := 0; d < a.HeadDim; d++ {
					w[j] += round(q[i*stride+h*a.HeadDim+d]) * round(k[j*stride+h*a.HeadDim+d])
				}
				w[j] *= float64(a.Scale)
				mx = math.Max(mx, w[j])
			}
			for j := range w {
				w[j] = math.Exp(w[j] - mx)
				sum += w[j]
			}
			for d := 0; d < a.HeadDim; d++ {
				var want float64
				for j := range w {
					want += round(float32(w[j]/sum)) * round(v[j*stride+h*a.HeadDim+d])
				}
				got := dst[i*stride+h*a.HeadDim+d]
				worst = max(worst, math.Abs(float64(got)-want)/(1+math.Abs(want)))
				if !near(float64(got), want, tol) {
					t.Fatalf("%s: head %d q %d d %d: %v, want %v", what, h, i, d, got, want)
				}
			}
		}
	}
	if testing.Verbose() && tq > 0 {
		t.Logf("%s: worst |diff|/(1+|want|) %.3g", what, worst)
	}
}

// TestAttentionBlocksBitIdentical: attention in blocks of queries gives, bit for bit, what one
// product over all the queries gives (the kernels sum each element in the same order whatever
// the tile's rows), causal or not, on one to three workers: over float32 keys and values, and
// over bfloat16 pairs for each bfloat16 kernel (AVX512-BF16 where the CPU has it, the pure-Go
// twins of it and of AMX), where ForwardKV rounds q and the weights into its own scratch and
// the products it is compared with round them inside MatMul.
func TestAttentionBlocksBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	type packing struct {
		name string
		pack func(a *Attention, k, v Heads, s int) *KV
	}
	packs := []packing{{"float32", func(a *Attention, k, v Heads, s int) *KV { return a.PackKV(nil, Float32, k, v, s) }}}
	for _, bf := range append(kernels.AvailableBF16(), kernels.GenericAMX(32, 32)) {
		packs = append(packs, packing{bf.Name, func(a *Attention, k, v Heads, s int) *KV { return a.packKVPairs(nil, bf, k, v, s) }})
	}
	for _, c := range []struct {
		heads, hd, tq, s int
		causal           bool
	}{{2, 64, 150, 150, false}, {3, 32, 97, 120, true}, {1, 16, 577, 577, false}, {2, 64, 1, 577, false}, {2, 9, 33, 45, true}} {
		stride := 3 * c.heads * c.hd
		qkv := randSlice(r, c.s*stride)
		d := c.heads * c.hd
		q, k, v := Heads{qkv[(c.s-c.tq)*stride:], stride}, Heads{qkv[d:], stride}, Heads{qkv[2*d:], stride}
		a := Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: 0.125, Causal: c.causal}
		for _, pk := range packs {
			if strings.HasPrefix(pk.name, "go-") && c.tq*c.s > 150*150 {
				continue // the pure-Go twins at the 577 queries' size: minutes, for nothing new
			}
			kv := pk.pack(&a, k, v, c.s)
			want := make([]float32, c.tq*d)
			scores := make([]float32, c.tq*c.s)
			for h := 0; h < c.heads; h++ {
				kv.K[h].MatMul(nil, scores, c.s, q.Data[h*c.hd:], q.Stride, c.tq)
				for i := 0; i < c.tq; i++ {
					seen := c.s
					if c.causal {
						seen = c.s - c.tq + i + 1
					}
					ScaledSoftmax(scores[i*c.s:i*c.s+seen], a.Scale)
					clear(scores[i*c.s+seen : (i+1)*c.s])
				}
				kv.V[h].MatMul(nil, want[h*c.hd:], d, scores, c.s, c.tq)
			}
			for _, threads := range []int{1, 2, 3} {
				p := NewPool(threads)
				got := make([]float32, c.tq*d)
				a.ForwardKV(p, Heads{got, d}, q, kv, c.tq, make([]float32, a.ScratchSize(p, c.tq, c.s)))
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v %s, %d threads: [%d] %v, one product gives %v", c, pk.name, threads, i, got[i], want[i])
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
			var mu sync.Mutex
			running := map[int]bool{} // worker indices of the chunks running now
			NewPool(w).ForWorkers(n, 3, func(worker, lo, hi int) {
				mu.Lock()
				if running[worker] || worker < 0 || worker >= w {
					t.Errorf("n %d workers %d: worker index %d in use or out of range", n, w, worker)
				}
				running[worker] = true
				mu.Unlock()
				for i := lo; i < hi; i++ {
					hits[i]++
				}
				time.Sleep(time.Millisecond) // chunks overlap, so that a shared index would show
				mu.Lock()
				running[worker] = false
				mu.Unlock()
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n %d workers %d: index %d visited %d times", n, w, i, h)
				}
			}
		}
	}
}

// TestPoolChunks: forChunks calls fn on exactly the chunks [k·chunk, min((k+1)·chunk, n)),
// each once, whichever worker takes them, and with one worker (or one chunk) calls it once
// over the whole range on the caller.
func TestPoolChunks(t *testing.T) {
	for _, c := range []struct{ n, chunk, workers int }{{10, 3, 2}, {10, 1, 3}, {7, 7, 2}, {7, 100, 2}, {9, 0, 2}, {9, 2, 1}, {0, 3, 2}} {
		var mu sync.Mutex
		seen := map[[2]int]int{}
		NewPool(c.workers).forChunks(c.n, c.chunk, func(_, lo, hi int) {
			mu.Lock()
			seen[[2]int{lo, hi}]++
			mu.Unlock()
		})
		want := map[[2]int]int{}
		switch chunk := max(c.chunk, 1); {
		case c.n == 0:
		case c.workers == 1 || chunk >= c.n:
			want[[2]int{0, c.n}] = 1
		default:
			for lo := 0; lo < c.n; lo += chunk {
				want[[2]int{lo, min(lo+chunk, c.n)}] = 1
			}
		}
		if !maps.Equal(seen, want) {
			t.Errorf("%+v: chunks %v, want %v", c, seen, want)
		}
	}
}

// TestPoolSlowWorker: with more chunks than workers, a worker held up on its first chunk takes
// few of them, the others running the rest meanwhile (which equal shares would leave it).
func TestPoolSlowWorker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one processor")
	}
	p := NewPool(2)
	for try := 0; ; try++ {
		var mu sync.Mutex
		ran := map[int]int{} // chunks run by each worker index
		slow := -1           // the worker that took chunk 0
		p.forChunks(8, 1, func(worker, lo, hi int) {
			mu.Lock()
			ran[worker]++
			if lo == 0 {
				slow = worker
			}
			mu.Unlock()
			if lo == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		})
		if ran[slow] < 4 {
			return
		}
		if try == 9 {
			t.Fatalf("in 10 calls the worker held up 50 ms on chunk 0 of 8 ran %d of them each time, the last time %v", ran[slow], ran)
		}
	}
}

// TestPoolRunsInParallel: chunks of real work run on several goroutines at once, not all on
// the caller (which the pool allows only when helpers are late).
func TestPoolRunsInParallel(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one processor")
	}
	p := NewPool(2)
	together := 0
	for range 20 {
		var entered atomic.Int32 // chunks of this call that have started
		var waiting, met atomic.Bool
		p.For(2, func(lo, hi int) {
			if entered.Add(1) == 2 {
				met.Store(waiting.Load()) // the first is still running
				return
			}
			// The first chunk waits for the second to start, up to 20 ms.
			waiting.Store(true)
			for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline) && !met.Load(); {
			}
			waiting.Store(false)
		})
		if met.Load() {
			together++
		}
	}
	if together == 0 {
		t.Errorf("20 calls of two chunks (the first waiting up to 20 ms for the second) never ran both at once")
	}
}

// TestMatMulPassesForkOnce: a product whose A is read in place (a decode step's row, a tall A
// whose row stride does not alias, or one that does where the kernel reads it in place) forks
// the pool once for all its passes over K; one whose A is copied pass by pass forks per pass
// (the copy, then the tiles).
func TestMatMulPassesForkOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, kern := range bothWaysA([]kernels.Kernel{kernels.Best()}) {
		copied := 2 * ((1024 + kcBlock - 1) / kcBlock)
		if kern.InPlaceA {
			copied = 1
		}
		for _, c := range []struct{ m, k, lda, forks int }{{1, 3072, 3072, 1}, {100, 3072, 3072 + 8, 1}, {100, 1024, 1024, copied}} {
			p := NewPool(2)
			n := 96
			pm := pack(p, nil, kern, randSlice(r, n*c.k), n, c.k, c.k, false)
			a, out := randSlice(r, c.m*c.lda), make([]float32, c.m*n)
			before := p.forks.Load()
			pm.MatMul(p, out, n, a, c.lda, c.m)
			if got := p.forks.Load() - before; got != int64(c.forks) {
				t.Errorf("%s (A in place %v) %dx%dx%d (lda %d): %d forks of the pool, want %d", kern.Name, kern.InPlaceA, c.m, c.k, n, c.lda, got, c.forks)
			}
		}
	}
	// bfloat16: a decode step's row is rounded whole, then one fork.
	p := NewPool(2)
	pm := packBF16(p, nil, kernels.BestBF16(), randSlice(r, 96*3072), 96, 3072, 3072, false)
	before := p.forks.Load()
	pm.MatMul(p, make([]float32, 96), 96, randSlice(r, 3072), 3072, 1)
	if got := p.forks.Load() - before; got != 1 {
		t.Errorf("bfloat16 1x3072x96: %d forks of the pool, want 1", got)
	}
}

// BenchmarkPoolFor is the cost of one fork and join of the pool with nothing to do: a chunk for
// every worker, as a decode step's hundred-odd products and element-wise passes make. Run with
// -cpu 2,4,8,16 (the pool takes GOMAXPROCS workers): on many threads it, not memory, can bound
// a step.
func BenchmarkPoolFor(b *testing.B) {
	p := NewPool(0)
	var sink atomic.Int64
	for b.Loop() {
		p.For(p.Size(), func(lo, hi int) { sink.Add(int64(hi - lo)) })
	}
	if sink.Load() != int64(b.N*p.Size()) {
		b.Fatalf("%d chunks ran, want %d", sink.Load(), b.N*p.Size())
	}
}

func BenchmarkMatMul(b *testing.B) {
	for _, sz := range [][3]int{{577, 1024, 4096}, {577, 4096, 1024}, {577, 1024, 3072}, {1, 768, 3072}, {1, 768, 30524}, {8, 768, 30524}} {
		m, k, n := sz[0], sz[1], sz[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
			p := NewPool(0)
			pm := Pack(p, w, n, k, k, false)
			for b.Loop() {
				pm.MatMul(p, c, n, a, k, m)
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(2*m*k*n)/s/1e9, "GFLOP/s")
			b.ReportMetric(float64(4*n*k)/s/1e9, "GB/s(weights)")
		})
	}
}

// TestLinearEpilogues: the fused bias, GELU and residual give what the separate passes give,
// across several passes over K and a narrow last panel.
func TestLinearEpilogues(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	in, out, m := 600, 45, 17
	l := Linear{Weight: FromData(randSlice(r, out*in), out, in), Bias: FromData(randSlice(r, out), out)}
	p := NewPool(2)
	l.Prepare(p, nil, Float32, nil)
	x := FromData(randSlice(r, m*in), m, in)
	plain := New(m, out)
	l.Forward(p, plain, x)

	gelu := New(m, out)
	l.ForwardGELU(p, gelu, x)
	ref := append([]float32(nil), plain.Data...)
	GELU(p, ref)
	for i := range ref {
		if !near(float64(gelu.Data[i]), float64(ref[i]), 1e-6) {
			t.Fatalf("GELU epilogue [%d] %v, separate %v", i, gelu.Data[i], ref[i])
		}
	}

	resid := FromData(randSlice(r, m*out), m, out)
	want := append([]float32(nil), resid.Data...)
	AddInPlace(want, plain.Data)
	l.ForwardAdd(p, resid, x)
	for i := range want {
		if !near(float64(resid.Data[i]), float64(want[i]), 1e-5) {
			t.Fatalf("residual epilogue [%d] %v, separate %v", i, resid.Data[i], want[i])
		}
	}
}

// BenchmarkLinearGELU times the vision MLP's first layer (577x1024 -> 4096) with its bias and
// GELU fused into the product's last pass, in each precision: the epilogue's cost after each
// kernel family (after AMX's tile stores on AMX CPUs).
func BenchmarkLinearGELU(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	m, in, out := 577, 1024, 4096
	x, y := FromData(randSlice(r, m*in), m, in), New(m, out)
	for _, prec := range []Precision{Float32, BFloat16} {
		l := Linear{Weight: FromData(randSlice(r, out*in), out, in), Bias: FromData(randSlice(r, out), out)}
		p := NewPool(0)
		l.Prepare(p, nil, prec, nil)
		b.Run(fmt.Sprintf("%s/%s", prec, prec.Kernel()), func(b *testing.B) {
			for b.Loop() {
				l.ForwardGELU(p, y, x)
			}
			b.ReportMetric(float64(2*m*in*out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMulKernels compares every float32 assembly kernel at the vision encoder's
// shapes (Best picks one kernel per CPU; this says which one each CPU should pick). At the
// MLP's two shapes it also runs with C's rows 16 values further apart than the model's (whose
// 1024 or 4096 values are a multiple of 4 KiB: a tile's rows share L1 sets, and on Intel a
// load 4 KiB from a store in flight waits for it), to say whether C's row stride costs a CPU
// anything (Zen 5, 2 cores: within 3%).
func BenchmarkMatMulKernels(b *testing.B) {
	for _, kern := range kernels.Available() {
		if kern.Name == "go" {
			continue
		}
		for _, sz := range [][4]int{{577, 1024, 4096, 0}, {577, 1024, 4096, 16}, {577, 4096, 1024, 0}, {577, 4096, 1024, 16}, {577, 1024, 1024, 0}} {
			m, k, n, ldc := sz[0], sz[1], sz[2], sz[2]+sz[3]
			// A's rows alias L1 sets at every shape here: read in place, and copied apart
			// first, whichever this CPU chose (Kernel.InPlaceA).
			for _, kern := range bothWaysA([]kernels.Kernel{kern}) {
				way := map[bool]string{false: "copied", true: "in-place"}[kern.InPlaceA]
				b.Run(fmt.Sprintf("%s/%dx%dx%d/ldc=%d/a=%s", kern.Name, m, k, n, ldc, way), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 1))
					a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*ldc)
					p := NewPool(0)
					pm := pack(p, nil, kern, w, n, k, k, false)
					for b.Loop() {
						pm.MatMul(p, c, ldc, a, k, m)
					}
					b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMatMulDepth compares depths of the passes over K (kcBlock) with the fastest kernel
// at the vision encoder's MLP shapes: the depth to choose per CPU.
func BenchmarkMatMulDepth(b *testing.B) {
	kern := kernels.Best()
	for _, sz := range [][3]int{{577, 1024, 4096}, {577, 4096, 1024}} {
		m, k, n := sz[0], sz[1], sz[2]
		r := rand.New(rand.NewPCG(1, 1))
		a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		p := NewPool(0)
		for _, depth := range []int{128, 192, 256, 320, 384, 512} {
			pm := packDepth(p, nil, kern, w, n, k, k, false, depth)
			b.Run(fmt.Sprintf("%s/%dx%dx%d/kc=%d", kern.Name, m, k, n, depth), func(b *testing.B) {
				for b.Loop() {
					pm.MatMul(p, c, n, a, k, m)
				}
				b.ReportMetric(float64(2*m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestKernelsAgreeBitForBit: every float32 assembly kernel family sums each element of C in
// the same order with fused multiply-adds (k ascending within a pass, passes added to C in
// turn), so whichever one a CPU picks, a product's result is the same bit for bit; and so does
// MatMul whether it reads a tall A whose rows alias L1 sets in place or copies them apart
// first (Kernel.InPlaceA). (The pure-Go twin rounds each product before adding it.)
func TestKernelsAgreeBitForBit(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	m, k, n, lda := 37, 600, 150, 1024
	a, w := randSlice(r, m*lda), randSlice(r, n*k)
	p := NewPool(2)
	var want []float32
	var first string
	for _, kern := range bothWaysA(kernels.Available()) {
		if kern.Name == "go" {
			continue
		}
		c := make([]float32, m*n)
		pack(p, nil, kern, w, n, k, k, false).MatMul(p, c, n, a, lda, m)
		name := fmt.Sprintf("%s (A in place %v)", kern.Name, kern.InPlaceA)
		if want == nil {
			want, first = c, name
			continue
		}
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("%s: c[%d] = %v, %s gave %v", name, i, c[i], first, want[i])
			}
		}
	}
}

// bothWaysA is each kernel twice, reading a tall A with aliasing rows in place and copying
// them apart (Kernel.InPlaceA), whichever this CPU chose: tests take both of MatMul's paths.
func bothWaysA(ks []kernels.Kernel) []kernels.Kernel {
	var both []kernels.Kernel
	for _, k := range ks {
		k.InPlaceA = false
		both = append(both, k)
		k.InPlaceA = true
		both = append(both, k)
	}
	return both
}

// TestPoolConcurrentNested: many goroutines share one pool, each chunk of the outer calls
// makes inner calls on the same pool, and every index of every call is visited once.
func TestPoolConcurrentNested(t *testing.T) {
	p := NewPool(3)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 50; rep++ {
				var hits [40][30]atomic.Int32
				p.For(40, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						p.For(30, func(lo2, hi2 int) {
							for j := lo2; j < hi2; j++ {
								hits[i][j].Add(1)
							}
						})
					}
				})
				for i := range hits {
					for j := range hits[i] {
						if h := hits[i][j].Load(); h != 1 {
							t.Errorf("(%d, %d) visited %d times", i, j, h)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestPoolHelpersEnd: a pool needs no Close: its helpers end soon after the last call.
func TestPoolHelpersEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	p := NewPool(4)
	for rep := 0; rep < 20; rep++ {
		p.For(100, func(lo, hi int) {})
	}
	var zero Pool // a zero Pool works too (its helpers find no queue)
	zero.size = 2
	zero.For(10, func(lo, hi int) {})
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running, %d before", n, before)
	}
}

// BenchmarkAttention times self-attention at the shapes of BLIP-large's vision encoder (577
// positions, 16 heads of 64) and of a base-sized one, reading q, k and v from a fused
// projection's rows, on two workers.
func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ t, heads, hd int }{{577, 16, 64}, {577, 12, 64}} {
		stride := 3 * c.heads * c.hd
		qkv := randSlice(r, c.t*stride)
		dst := make([]float32, c.t*c.heads*c.hd)
		a := Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: 0.125}
		p := NewPool(2)
		scratch := make([]float32, a.ScratchSize(p, c.t, c.t))
		d := c.heads * c.hd
		flops := 4 * float64(c.t) * float64(c.t) * float64(d)
		b.Run(fmt.Sprintf("t=%d/heads=%d", c.t, c.heads), func(b *testing.B) {
			for b.Loop() {
				a.Forward(p, Heads{dst, d}, Heads{qkv, stride}, Heads{qkv[d:], stride}, Heads{qkv[2*d:], stride}, c.t, c.t, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		// The same attention as autocast computes it (keys and values packed as bfloat16
		// pairs, q and the weights rounded at the products), packing included: what the
		// vision encoder would run if its attention were bfloat16 (see the README's Decisions).
		// PackKV packs for kernels.RowsBF16: on AMX CPUs VDPBF16PS, which on this project's
		// AMX Xeon took 17-20 ms here against float32's 8-11 (twenty-first session).
		// Forward under BFloat16 where it multiplies bfloat16 tiles (AMX; see tileKernel).
		if tiled := (Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: 0.125, Precision: BFloat16}); func() bool { _, ok := tiled.tileKernel(); return ok }() {
			scratch := make([]float32, tiled.ScratchSize(p, c.t, c.t))
			b.Run(fmt.Sprintf("t=%d/heads=%d/tiles", c.t, c.heads), func(b *testing.B) {
				for b.Loop() {
					tiled.Forward(p, Heads{dst, d}, Heads{qkv, stride}, Heads{qkv[d:], stride}, Heads{qkv[2*d:], stride}, c.t, c.t, scratch)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if _, pairs := BFloat16.kvPairs(); pairs {
			b.Run(fmt.Sprintf("t=%d/heads=%d/bfloat16", c.t, c.heads), func(b *testing.B) {
				for b.Loop() {
					kv := a.PackKV(p, BFloat16, Heads{qkv[d:], stride}, Heads{qkv[2*d:], stride}, c.t)
					a.ForwardKV(p, Heads{dst, d}, Heads{qkv, stride}, kv, c.t, scratch)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkCrossAttention times a decode step's cross-attention of BLIP-large's text decoder:
// one query over the 577 cached image keys and values of each of 12 layers (12 heads of 64),
// in float32 and as bfloat16 pairs (PackKV under BFloat16) for each bfloat16 kernel the CPU
// has (on AMX CPUs both AMX, which PackKV picks, and VDPBF16PS), or as bfloat16 for the
// float32 kernels where BFloat16 stores weights so (bfloat16/half), reporting the cached bytes
// read a second. The 12 layers' caches (42 MB in float32) do not fit in cache, as in a step.
func BenchmarkCrossAttention(b *testing.B) {
	const layers, s, heads, hd = 12, 577, 12, 64
	r := rand.New(rand.NewPCG(3, 3))
	d := heads * hd
	a := Attention{NumHeads: heads, HeadDim: hd, Scale: 0.125}
	k, v, q := randSlice(r, s*d), randSlice(r, s*d), randSlice(r, d)
	dst := make([]float32, d)
	p := NewPool(2)
	scratch := make([]float32, a.ScratchSize(p, 1, s))
	run := func(name string, bytes int, pack func() *KV) {
		kvs := make([]*KV, layers)
		for i := range kvs {
			kvs[i] = pack()
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, kv := range kvs {
					a.ForwardKV(p, Heads{dst, d}, Heads{q, d}, kv, 1, scratch)
				}
			}
			b.ReportMetric(float64(layers*2*s*d*bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
	run("float32", 4, func() *KV { return a.PackKV(p, Float32, Heads{k, d}, Heads{v, d}, s) })
	if BFloat16.halfWeights() {
		run("bfloat16/half", 2, func() *KV { return a.PackKV(p, BFloat16, Heads{k, d}, Heads{v, d}, s) })
	}
	for _, kern := range kernels.AvailableBF16() {
		if !kern.Emulated {
			run("bfloat16/"+kern.Name, 2, func() *KV { return a.packKVPairs(p, kern, Heads{k, d}, Heads{v, d}, s) })
		}
	}
}

// BenchmarkPack times packing a vision MLP weight (4096x1024) for the float32 kernel and as
// bfloat16 pairs for each bfloat16 kernel, as load does for every layer, on two workers.
func BenchmarkPack(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	n, k := 4096, 1024
	w := randSlice(r, n*k)
	p := NewPool(2)
	b.Run("float32", func(b *testing.B) {
		for b.Loop() {
			Pack(p, w, n, k, k, false)
		}
		b.ReportMetric(float64(4*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	// Each bfloat16 kernel's packing (load packs every weight so under BFloat16).
	for _, kern := range kernels.AvailableBF16() {
		if kern.Emulated {
			continue
		}
		b.Run("bfloat16/"+kern.Name, func(b *testing.B) {
			for b.Loop() {
				packBF16(p, nil, kern, w, n, k, k, false)
			}
			b.ReportMetric(float64(4*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// TestReadPeak: ReadPeak reads every value, across blocks and workers' ranges, whichever
// position holds the largest, and counts 4 bytes a value; an empty slice reads nothing.
func TestReadPeak(t *testing.T) {
	if bytes, largest := ReadPeak(NewPool(2), nil); bytes != 0 || largest != 0 {
		t.Fatalf("empty slice: %d bytes, largest %v; want 0, 0", bytes, largest)
	}
	r := rand.New(rand.NewPCG(9, 9))
	n := 3*readBlock + 17
	x := randSlice(r, n)
	for _, p := range []*Pool{nil, NewPool(1), NewPool(3)} {
		for _, at := range []int{0, readBlock - 1, readBlock, n / 3, n/3 + 1, 2*n/3 + 5, n - 1} {
			old := x[at]
			x[at] = 7
			bytes, largest := ReadPeak(p, x)
			x[at] = old
			if bytes != int64(4*n) || largest != 7 {
				t.Fatalf("pool of %d, largest at %d: %d bytes, largest %v; want %d, 7", p.Size(), at, bytes, largest, 4*n)
			}
		}
	}
}

// BenchmarkDecodeProducts times the products of BLIP-large's caption decoder in a decode step
// (one row through each of 12 layers' four 768x768 self-attention and two cross-attention
// projections, 768x3072 and 3072x768: 396 MB of float32 weights, from memory as in a step) on
// two workers, in each precision this CPU runs apart, against the memory bandwidth those
// workers get streaming 512 MiB (ReadPeak) in the same benchmark: GB/s of weights and that
// as a percentage of the read peak (read_GB/s). A decode step is these products plus the LM
// head, attention and norms.
func BenchmarkDecodeProducts(b *testing.B) {
	const layers, d, ff = 12, 768, 3072
	p := NewPool(2)
	// The weights' values do not matter here; a cheap pattern keeps setup short (99M values).
	pattern := func(n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(i%13-6) / 64
		}
		return w
	}
	peak := make([]float32, 512<<20/4)
	for i := range peak {
		peak[i] = 1 // resident pages, not the shared zero page
	}
	precs := []Precision{Float32}
	if BFloat16.Kernel() != Float32.Kernel() {
		precs = append(precs, BFloat16)
	}
	for _, prec := range precs {
		var ls []*Linear
		var bytes int64
		for range layers {
			for _, s := range [][2]int{{d, d}, {d, d}, {d, d}, {d, d}, {d, d}, {d, d}, {d, ff}, {ff, d}} {
				l := &Linear{Weight: FromData(pattern(s[0]*s[1]), s[1], s[0])}
				l.Prepare(p, nil, prec, nil)
				ls = append(ls, l)
				bytes += l.Bytes()
			}
		}
		x, y := FromData(pattern(ff), 1, ff), New(1, ff)
		b.Run(prec.String(), func(b *testing.B) {
			var read time.Duration
			for b.Loop() {
				start := time.Now()
				ReadPeak(p, peak)
				read += time.Since(start)
				for _, l := range ls {
					l.Forward(p, &Tensor{Data: y.Data[:l.Out()], Shape: []int{1, l.Out()}}, &Tensor{Data: x.Data[:l.In()], Shape: []int{1, l.In()}})
				}
			}
			products := b.Elapsed() - read
			gbps := float64(bytes) * float64(b.N) / products.Seconds() / 1e9
			b.ReportMetric(gbps, "GB/s")
			b.ReportMetric(100*gbps/(float64(4*len(peak))*float64(b.N)/read.Seconds()/1e9), "%read_peak")
		})
	}
}

// TestPackRows: packRows writes every value where the panel layout puts it, and nothing past
// the rows it packs (a panel's columns beyond them, the next pass's values), at every count of
// rows round its loops' eight and four, several depths, and row strides that are and are not
// multiples of 4 KiB.
func TestPackRows(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 17))
	for _, mr := range []int{16, 48, 64} {
		for _, rows := range []int{1, 4, 7, 8, 15, 16, 17, 33, 48, 63, 64} {
			if rows > mr {
				continue
			}
			for _, kc := range []int{1, 15, 16, 17, 64, 100, 256} {
				for _, lda := range []int{kc, kc + 3, 1024} {
					if lda < kc {
						continue
					}
					a := randSlice(r, (rows-1)*lda+kc)
					dst := make([]float32, kc*mr+5)
					for i := range dst {
						dst[i] = -1
					}
					packRows(dst, a, lda, rows, mr, kc)
					for i, v := range dst {
						q, c := i/mr, i%mr
						want := float32(-1)
						if q < kc && c < rows {
							want = a[c*lda+q]
						}
						if v != want {
							t.Fatalf("mr %d rows %d kc %d lda %d: dst[%d] (k %d, row %d) = %v, want %v", mr, rows, kc, lda, i, q, c, v, want)
						}
					}
				}
			}
		}
	}
}
