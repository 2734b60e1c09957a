package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

func bf16Round(x float32) float32 { return math.Float32frombits(uint32(kernels.ToBF16(x)) << 16) }

// TestMatMulBF16 checks the bfloat16 product against float64 sums of the bfloat16-rounded
// inputs, at odd sizes (odd K pads a pair), with both kernels.
func TestMatMulBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, kern := range []kernels.BF16{kernels.BestBF16(), kernels.GenericBF16(4, 16)} {
		for _, sz := range [][3]int{{1, 1, 1}, {3, 7, 5}, {17, 33, 40}, {15, 513, 33}, {1, 768, 100}} {
			m, k, n := sz[0], sz[1], sz[2]
			a, b := randSlice(r, m*k), randSlice(r, n*k)
			p := NewPool(2)
			pm := packBF16(p, nil, kern, b, n, k, k, false)
			c := make([]float32, m*n)
			pm.MatMul(p, c, n, a, k, m)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want, mag float64
					for q := 0; q < k; q++ {
						v := float64(bf16Round(a[i*k+q])) * float64(bf16Round(b[j*k+q]))
						want += v
						mag += math.Abs(v)
					}
					if d := math.Abs(float64(c[i*n+j]) - want); d > 1e-5*mag+1e-6 {
						t.Fatalf("%s %dx%dx%d: c[%d,%d] = %v, want %v", kern.Name, m, k, n, i, j, c[i*n+j], want)
					}
				}
			}
		}
	}
}

func TestLinearBF16Close(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	l32 := Linear{Weight: FromData(randSlice(r, 64*96), 64, 96), Bias: FromData(randSlice(r, 64), 64)}
	l16 := Linear{Weight: FromData(append([]float32(nil), l32.Weight.Data...), 64, 96), Bias: l32.Bias}
	p := NewPool(2)
	l32.Prepare(p, nil, Float32, nil)
	l16.Prepare(p, nil, BFloat16, nil)
	x := FromData(randSlice(r, 5*96), 5, 96)
	y32, y16 := New(5, 64), New(5, 64)
	l32.Forward(p, y32, x)
	l16.Forward(p, y16, x)
	for i := range y32.Data {
		if d := math.Abs(float64(y32.Data[i] - y16.Data[i])); d > 0.1 {
			t.Fatalf("bfloat16 result %v far from float32 %v", y16.Data[i], y32.Data[i])
		}
	}
}

// BenchmarkMatMulBF16: the two bfloat16-pair paths at the vision MLP's shape, on every
// assembly bf16 kernel (AMX, AVX512-BF16): bfloat16 weights, and bfloat16x3 (float32 weights
// split per pass); and bfloat16 at decode steps' shapes (one row of the LM head, the MLP's
// two products, and three and eight rows of the LM head: beams, batches), where the weights
// are read once and which family reads them fastest decides the kernel of short products.
func BenchmarkMatMulBF16(b *testing.B) {
	for _, kern := range kernels.AvailableBF16() {
		if kern.Emulated {
			continue
		}
		for _, c := range []struct {
			name    string
			m, k, n int
			split   bool
		}{{"bfloat16", 577, 1024, 4096, false}, {"bfloat16", 577, 4096, 1024, false}, {"bfloat16", 577, 1024, 3072, false}, {"bfloat16x3", 577, 1024, 4096, true}, {"bfloat16", 1, 768, 30524, false},
			{"bfloat16", 1, 768, 3072, false}, {"bfloat16", 1, 3072, 768, false}, {"bfloat16", 3, 768, 30524, false}, {"bfloat16", 8, 768, 30524, false}} {
			m, k, n := c.m, c.k, c.n
			b.Run(fmt.Sprintf("%s/%s/%dx%dx%d", kern.Name, c.name, m, k, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
				p := NewPool(0)
				pm := packBF16(p, nil, kern, w, n, k, k, false)
				if c.split {
					pm = packSplit(p, nil, kern, w, n, k, k)
				}
				for b.Loop() {
					pm.MatMul(p, out, n, a, k, m)
				}
				s := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(2*m*k*n)/s/1e9, "GFLOP/s")
				b.ReportMetric(float64(len(pm.data)+len(pm.words))*4/s/1e9, "GB/s(weights)")
			})
		}
	}
}

// TestMatMulBF16Tiles: the AMX layouts (one pass over the whole of K, or passes of another
// depth, rows of A in blocks that fit L2) give what the vector layout (passes of kpBlock pairs)
// gives, bit for bit, with the pure-Go kernel called a pair at a time standing in for both
// (see pairwise).
func TestMatMulBF16Tiles(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	vec := pairwise(kernels.GenericBF16(32, 32))
	tiled := vec
	tiled.Tiles = true
	p := NewPool(3)
	for _, sz := range [][3]int{{300, 4000, 40}, {37, 61, 70}, {1, 1, 1}} {
		m, k, n := sz[0], sz[1], sz[2]
		a, w, bias := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, n)
		c0 := randSlice(r, m*n)
		var want []float32
		for i, pack := range []func() *Packed{
			func() *Packed { return packBF16(p, nil, vec, w, n, k, k, false) },
			func() *Packed { return packBF16(p, nil, tiled, w, n, k, k, false) },
			func() *Packed { return packBF16Blocks(p, nil, tiled, w, n, k, k, false, 100, 64<<10) },
		} {
			c := append([]float32(nil), c0...)
			pm := pack()
			pm.MatMulEpilogue(p, c, n, a, k, m, Epilogue{Accumulate: true, Bias: bias, GELU: true})
			if want == nil {
				want = c
				continue
			}
			for j := range c {
				if c[j] != want[j] {
					t.Fatalf("%dx%dx%d, layout %d: %v, vector layout %v at %d", m, k, n, i, c[j], want[j], j)
				}
			}
		}
	}
}

// TestMatMulAMXColumns: a family with tiles of 224 rows (the AMX column families' shape,
// kernels.amxColumns) gives inside MatMul what the 32-row AMX family gives, bit for bit: taller
// tiles change which rows go to a kernel call together and which products take the few-rows
// route (matMulPairs), not the steps each row goes through. The pure-Go twin stands in for
// both off AMX; on an AMX CPU each assembly column family is compared with amx-bf16 too.
func TestMatMulAMXColumns(t *testing.T) {
	pairs := [][2]kernels.BF16{{kernels.GenericAMX(32, 32), kernels.GenericAMX(224, 32)}}
	var amx kernels.BF16
	var experiments []kernels.BF16
	for _, k := range kernels.AvailableBF16() {
		switch {
		case k.Name == "amx-bf16":
			amx = k
		case k.Tiles && !k.Emulated:
			experiments = append(experiments, k)
		}
	}
	for _, k := range experiments {
		if amx.Micro != nil {
			pairs = append(pairs, [2]kernels.BF16{amx, k})
		}
	}
	r := rand.New(rand.NewPCG(14, 14))
	p := NewPool(3)
	for _, pair := range pairs {
		// Rows past three blocks of 224 and within one, K of several passes with a short last
		// step, a narrow last panel.
		for _, sz := range [][3]int{{577, 100, 40}, {300, 1100, 70}, {150, 61, 33}, {33, 40, 32}, {1, 3, 5}} {
			m, k, n := sz[0], sz[1], sz[2]
			a, w, bias := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, n)
			c0 := randSlice(r, m*n)
			var want []float32
			for _, kern := range pair {
				c := append([]float32(nil), c0...)
				packBF16(p, nil, kern, w, n, k, k, false).MatMulEpilogue(p, c, n, a, k, m, Epilogue{Accumulate: true, Bias: bias, GELU: true})
				if want == nil {
					want = c
					continue
				}
				for j := range c {
					if c[j] != want[j] {
						t.Fatalf("%s (MR %d) %dx%dx%d: %v at %d, %s %v", kern.Name, kern.MR, m, k, n, c[j], j, pair[0].Name, want[j])
					}
				}
			}
		}
	}
}

// TestPackBF16Transposed: packing B from columns (a [K, N] matrix, as attention's values are
// packed) gives, word for word, what packing its explicit transpose from rows gives, for odd K
// and N, a last panel narrower than NR, and passes of the vector and the AMX depths.
func TestPackBF16Transposed(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	for _, kern := range []kernels.BF16{kernels.GenericBF16(14, 32), kernels.GenericAMX(32, 32)} {
		for _, sz := range [][2]int{{64, 577}, {37, 61}, {1, 1}, {32, 2}, {70, 1100}} {
			n, k := sz[0], sz[1]
			ldb := n + 5
			b := randSlice(r, k*ldb) // B[n, k] = b[k*ldb+n]
			bt := make([]float32, n*k)
			for i := 0; i < n; i++ {
				for q := 0; q < k; q++ {
					bt[i*k+q] = b[q*ldb+i]
				}
			}
			for _, threads := range []int{1, 3} {
				p := NewPool(threads)
				got := packBF16(p, nil, kern, b, n, k, ldb, true)
				want := packBF16(p, nil, kern, bt, n, k, k, false)
				if len(got.words) != len(want.words) {
					t.Fatalf("%s %dx%d: %d words, from rows %d", kern.Name, n, k, len(got.words), len(want.words))
				}
				for i := range want.words {
					if got.words[i] != want.words[i] {
						t.Fatalf("%s %dx%d, %d threads: word %d %#x, from rows %#x", kern.Name, n, k, threads, i, got.words[i], want.words[i])
					}
				}
			}
		}
	}
}

// pairwise is kern called one pair of k at a time: each pair's products are added to C in
// order of k, so the result does not depend on where passes over K begin (a kernel's call sums
// its pairs apart, then adds them to C).
func pairwise(kern kernels.BF16) kernels.BF16 {
	one := kern.Micro
	kern.Micro = func(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, acc bool) {
		for p := 0; p < kp; p++ {
			one(mr, 1, a[p:], lda, b[p*kern.NR:], c, ldc, acc || p > 0)
		}
	}
	return kern
}

// BenchmarkMatMulAMXBlocks compares depths of pass and sizes of A's row blocks for each AMX
// family (amx-bf16, and the column families, one call per 224 rows of a panel: amx-bf16-col,
// the one chosen, and amx-bf16-cols) at the vision MLP's two shapes, and at a narrow one whose B and C (512
// and 577 KiB) stay in the two cores' L2 where the MLP's stream from memory (the products'
// ceiling in MatMul, to tell what C's and B's traffic costs from what the calls do), on two
// workers and, at MatMul's own blocking, one and with C's rows padded (skipped without AMX).
// Each is also given as a percentage of its workers' AMX peak (amx_peak%), from one core's
// measured just before: the host's tiles gave 876-2312 GFLOP/s a core within one device
// session.
func BenchmarkMatMulAMXBlocks(b *testing.B) {
	var tiled []kernels.BF16
	for _, k := range kernels.AvailableBF16() {
		if k.Tiles && !k.Emulated {
			tiled = append(tiled, k)
		}
	}
	if len(tiled) == 0 {
		b.Skip("no AMX")
	}
	for _, kern := range tiled {
		for _, sz := range [][3]int{{577, 1024, 4096}, {577, 4096, 1024}, {577, 1024, 256}} {
			amxBlocks(b, kern, sz[0], sz[1], sz[2])
		}
	}
}

// amxBlocks is BenchmarkMatMulAMXBlocks for kern at one shape.
func amxBlocks(b *testing.B, kern kernels.BF16, m, k, n int) {
	// MatMul's blocking on one worker too: against two, what the cores' sharing of L3 and
	// memory costs; against BenchmarkMicroBF16Residency (one core, operands from L2), what
	// MatMul adds.
	//
	// C's rows are n values apart, as in the model, where n*4 bytes is a multiple of 4 KiB at
	// every MLP shape: a tile's 16 rows of C then fall in one set of L1 (12 ways on Sapphire
	// Rapids) for TILESTORED and TILELOADD. MatMul's blocking runs again with C's rows 16
	// values further apart (padded), so that the device run says whether that aliasing costs
	// AMX anything (on the Zen 5, VDPBF16PS at 577x1024x4096: 942-954 GFLOP/s against 962-980,
	// within the noise).
	for _, c := range []struct {
		block, rowBytes, workers int
		padC                     bool
	}{{0, 1 << 20, 2, false}, {0, 256 << 10, 2, false}, {1024, 1 << 20, 2, false}, {amxBlock, amxRowBytes, 2, false}, {amxBlock, amxRowBytes, 2, true}, {amxBlock, amxRowBytes, 1, false}, {256, 256 << 10, 2, false}, {128, 256 << 10, 2, false}} {
		block, ldc := c.block, n
		if block == 0 {
			block = (k + 1) / 2
		}
		if c.padC {
			ldc += 16
		}
		b.Run(fmt.Sprintf("%s/%dx%dx%d/block=%d/rows=%dK/workers=%d/ldc=%d", kern.Name, m, k, n, block, c.rowBytes>>10, c.workers, ldc), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			a, w, out := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*ldc)
			p := NewPool(c.workers)
			pm := packBF16Blocks(p, nil, kern, w, n, k, k, false, block, c.rowBytes)
			start := time.Now()
			peak := float64(PeakAMX(1_000_000)) / time.Since(start).Seconds() / 1e9
			b.ResetTimer()
			for b.Loop() {
				pm.MatMul(p, out, ldc, a, k, m)
			}
			gflops := float64(2*m*k*n) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gflops, "GFLOP/s")
			b.ReportMetric(100*gflops/(float64(p.Size())*peak), "amx_peak%")
		})
	}
}
