package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const guard = float32(-7777.25)

// runBoth runs kernel k and its pure-Go twin on the same random panels, with C embedded in a
// guarded buffer at an odd offset and row stride, and compares.
func runBoth(t testing.TB, k Kernel, mr, kc, ldcExtra, offset int, accumulate bool, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	lda := kc + ldcExtra
	a := make([]float32, mr*lda)
	b := make([]float32, kc*k.NR)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	ldc := k.NR + ldcExtra
	size := offset + (mr-1)*ldc + k.NR + 9
	got, want := make([]float32, size), make([]float32, size)
	for i := range got {
		got[i] = guard
		want[i] = guard
	}
	for row := 0; row < mr; row++ {
		for j := 0; j < k.NR; j++ {
			v := float32(r.NormFloat64())
			got[offset+row*ldc+j], want[offset+row*ldc+j] = v, v
		}
	}
	k.Micro(mr, kc, a, lda, b, got[offset:], ldc, accumulate)
	genericMicro(k.NR, mr, kc, a, lda, b, want[offset:], ldc, accumulate)
	for i := range got {
		inTile := false
		if i >= offset {
			row, col := (i-offset)/ldc, (i-offset)%ldc
			inTile = row < mr && col < k.NR
		}
		if !inTile {
			if got[i] != guard {
				t.Fatalf("%s mr %d kc %d: wrote outside the tile at %d", k.Name, mr, kc, i)
			}
			continue
		}
		// Same products, different summation (FMA) rounding.
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(kc))*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s mr %d kc %d acc %v: c[%d] = %v, want %v", k.Name, mr, kc, accumulate, i, got[i], want[i])
		}
	}
}

// runHalf runs kernel k's MicroHalf over a random bfloat16 panel and its Micro over the same
// panel widened to float32, on the same A and C (embedded in guarded buffers at an odd offset
// and row stride), and fails unless they agree bit for bit and nothing outside the tile
// changed.
func runHalf(t testing.TB, k Kernel, mr, kc, ldcExtra, offset int, accumulate bool, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2))
	lda := kc + ldcExtra
	a := make([]float32, mr*lda)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	half, wide := make([]uint16, kc*k.NR), make([]float32, kc*k.NR)
	for i := range half {
		half[i] = ToBF16(float32(r.NormFloat64()))
	}
	FromBF16(wide, half)
	ldc := k.NR + ldcExtra
	size := offset + (mr-1)*ldc + k.NR + 9
	got, want := make([]float32, size), make([]float32, size)
	for i := range got {
		got[i] = guard
	}
	for row := 0; row < mr; row++ {
		for j := 0; j < k.NR; j++ {
			got[offset+row*ldc+j] = float32(r.NormFloat64())
		}
	}
	copy(want, got)
	k.MicroHalf(mr, kc, a, lda, half, got[offset:], ldc, accumulate)
	k.Micro(mr, kc, a, lda, wide, want[offset:], ldc, accumulate)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s mr %d kc %d acc %v: bfloat16 panel c[%d] = %v, widened panel %v", k.Name, mr, kc, accumulate, i, got[i], want[i])
		}
	}
}

// halfKernels are the kernels this CPU runs that have bfloat16-panel twins (the pure-Go one
// included: its MicroHalf widens and runs its Micro).
func halfKernels() []Kernel {
	var ks []Kernel
	for _, k := range Available() {
		if k.MicroHalf != nil {
			ks = append(ks, k)
		}
	}
	return ks
}

// TestHalfKernels: every kernel's bfloat16-panel form computes its float32 form's bits over
// the widened panel, at every tile height, depths with and without a whole vector's worth,
// from zero and accumulating.
func TestHalfKernels(t *testing.T) {
	for _, k := range halfKernels() {
		for mr := 1; mr <= k.MR; mr++ {
			for _, kc := range []int{1, 2, 3, 7, 64, 255, 256} {
				for _, acc := range []bool{false, true} {
					runHalf(t, k, mr, kc, mr%3, mr%5, acc, uint64(mr*1000+kc))
				}
			}
		}
	}
}

// asmKernels are the assembly kernels this CPU runs: the pure-Go twin compared with itself
// proves nothing, so without any the comparisons skip.
func asmKernels(t testing.TB) []Kernel {
	var ks []Kernel
	for _, k := range Available() {
		if k.Name != "go" {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	return ks
}

func TestKernelsMatchGeneric(t *testing.T) {
	for _, k := range asmKernels(t) {
		for mr := 1; mr <= k.MR; mr++ {
			for _, kc := range []int{1, 2, 3, 7, 64, 255, 256} {
				for _, acc := range []bool{false, true} {
					runBoth(t, k, mr, kc, mr%3, mr%5, acc, uint64(mr*1000+kc))
				}
			}
		}
	}
}

func FuzzKernels(f *testing.F) {
	f.Add(uint8(1), uint16(1), uint8(0), uint8(0), true, uint64(1))
	f.Add(uint8(14), uint16(300), uint8(5), uint8(3), false, uint64(2))
	f.Fuzz(func(t *testing.T, mr uint8, kc uint16, ldcExtra, offset uint8, acc bool, seed uint64) {
		for _, k := range asmKernels(t) {
			m := int(mr)%k.MR + 1
			runBoth(t, k, m, int(kc)%600+1, int(ldcExtra)%40, int(offset)%40, acc, seed)
		}
		for _, k := range halfKernels() {
			runHalf(t, k, int(mr)%k.MR+1, int(kc)%600+1, int(ldcExtra)%40, int(offset)%40, acc, seed)
		}
	})
}

// peakGFLOPS times PeakFMA for about 50 ms: one core's float32 FMA peak now.
func peakGFLOPS() float64 {
	start := time.Now()
	flops := PeakFMA(5_000_000)
	return float64(flops) / time.Since(start).Seconds() / 1e9
}

// amxPeakGFLOPS times PeakAMX for about 30-150 ms: one core's AMX peak now (0 where the
// bfloat16 products do not run on AMX).
func amxPeakGFLOPS() float64 {
	start := time.Now()
	flops := PeakAMX(1_000_000)
	return float64(flops) / time.Since(start).Seconds() / 1e9
}

// BenchmarkPeakFMA is one core's register-only FMA peak.
func BenchmarkPeakFMA(b *testing.B) {
	var flops int64
	for b.Loop() {
		flops += PeakFMA(100_000)
	}
	b.ReportMetric(float64(flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestPeakAMX: the AMX peak loop runs, and counts 65,536 operations a step, exactly where the
// bfloat16 products run on AMX tiles; elsewhere it does nothing and says 0.
func TestPeakAMX(t *testing.T) {
	bf := BestBF16()
	want := int64(0)
	if bf.Tiles && !bf.Emulated {
		want = 3 * 65536
	}
	if got := PeakAMX(3); got != want {
		t.Fatalf("PeakAMX(3) = %d with %s, want %d", got, bf.Name, want)
	}
	if got := PeakAMX(0); got != 0 {
		t.Fatalf("PeakAMX(0) = %d, want 0", got)
	}
}

// BenchmarkPeakAMX is one core's AMX peak: TDPBF16PS on tiles loaded once.
func BenchmarkPeakAMX(b *testing.B) {
	if PeakAMX(1) == 0 {
		b.Skip("the bfloat16 products do not run on AMX here")
	}
	var flops int64
	for b.Loop() {
		flops += PeakAMX(10_000)
	}
	b.ReportMetric(float64(flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMicro reports each kernel's speed and its fraction of the FMA peak measured just
// before it (peak%).
func BenchmarkMicro(b *testing.B) {
	for _, k := range Available() {
		b.Run(k.Name, func(b *testing.B) {
			kc := 256
			a, bb, c := make([]float32, kc*k.MR), make([]float32, kc*k.NR), make([]float32, k.MR*k.NR)
			peak := peakGFLOPS()
			b.ResetTimer()
			for b.Loop() {
				k.Micro(k.MR, kc, a, kc, bb, c, k.NR, true)
			}
			gflops := float64(2*k.MR*k.NR*kc) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gflops, "GFLOP/s")
			b.ReportMetric(100*gflops/peak, "peak%")
		})
	}
}
