//go:build amd64 && !noasm

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// prefetchDistances are the distances, in bytes, the prefetch test and benchmark compare (0:
// each step prefetches what it loads).
var prefetchDistances = []int{0, 1024, 2048, 4096, 8192, 16384}

// prefetching lists the kernel families that prefetch B, each at distance ahead: the AVX-512
// float32 family, AVX512-BF16 and AMX, those this CPU has.
func prefetching(ahead int) (f32 []Kernel, bf []BF16) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasFMA {
		f32 = append(f32, avx512Family(ahead))
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		bf = append(bf, vecBF16(ahead))
	}
	if BestBF16().Tiles {
		bf = append(bf, amxFamily(ahead, ahead))
	}
	return f32, bf
}

// TestPrefetchAgrees: at every prefetch distance the prefetching kernels (up to eight rows of
// the vector families; one and two rows of AMX tiles) give their twins' values: a prefetch
// changes none.
func TestPrefetchAgrees(t *testing.T) {
	for _, ahead := range prefetchDistances {
		f32, bf := prefetching(ahead)
		if len(f32)+len(bf) == 0 {
			t.Skip("no AVX-512 kernels on this CPU")
		}
		for _, k := range f32 {
			for _, mr := range []int{1, 2, 5, 8} {
				runBoth(t, k, mr, 300, 3, 1, true, uint64(ahead+mr))
			}
		}
		for _, k := range bf {
			rows := []int{1, 2, 5, 8}
			if k.Tiles {
				rows = []int{1, 3, 16, 17, 32}
			}
			for _, mr := range rows {
				runBF16(t, k, mr, 37, 5, 3, true, uint64(ahead+mr))
				runBF16(t, k, mr, 512, 16, 0, false, uint64(ahead+mr))
			}
		}
	}
}

// BenchmarkPrefetch times each prefetching family on one row against weights streamed from
// memory, as a decode step's products run them (64 MiB of panels, each read once; 256 values
// or 384 bfloat16 pairs of k a panel, as the LM head's passes), for each prefetch distance, in
// GB/s of weights: the distance to choose per CPU.
func BenchmarkPrefetch(b *testing.B) {
	const kc, kp, total = 256, 384, 64 << 20
	w32, wbf := make([]float32, total/4), make([]uint32, total/4)
	for i := range w32 {
		w32[i], wbf[i] = 1, 0x3f803f80 // resident pages (not the shared zero page) of 1.0
	}
	for _, ahead := range prefetchDistances {
		f32, bf := prefetching(ahead)
		if len(f32)+len(bf) == 0 {
			b.Skip("no AVX-512 kernels on this CPU")
		}
		for _, k := range f32 {
			panel := kc * k.NR
			a, w, c := make([]float32, kc), w32, make([]float32, k.NR)
			streamRow(b, fmt.Sprintf("float32-%s/ahead=%d", k.Name, ahead), panel, len(w)/panel, func(p int) {
				k.Micro(1, kc, a, kc, w[p*panel:], c, k.NR, false)
			})
		}
		for _, k := range bf {
			panel := kp * k.NR
			a, w, c := make([]uint32, kp), wbf, make([]float32, k.NR)
			streamRow(b, fmt.Sprintf("%s/ahead=%d", k.Name, ahead), panel, len(w)/panel, func(p int) {
				k.Micro(1, kp, a, kp, w[p*panel:], c, k.NR, false)
			})
		}
	}
}

// streamRow runs one sub-benchmark calling row on panels 0, 1, ... of n in turn, reporting
// the GB/s of panelWords 4-byte words a call.
func streamRow(b *testing.B, name string, panelWords, n int, row func(panel int)) {
	b.Run(name, func(b *testing.B) {
		i := 0
		for b.Loop() {
			row(i % n)
			i++
		}
		b.ReportMetric(float64(4*panelWords)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

// BenchmarkMicroBF16Residency times the tallest tile of every assembly bfloat16 kernel over 512
// pairs of k (one AMX pass), AMX's at each prefetch distance (its two-row kernel prefetches A
// and B), with its operands at different levels of the memory hierarchy, to
// tell where a kernel's speed inside MatMul goes: A and B reused by every call (hot); A cycling
// through 1 MiB of row slabs (a=L2); B cycling through 1 MiB of panels, none of which fits L1
// (b=L2); both; B streamed from 64 MiB (b=mem); and MatMul's order, each of 64 panels of B
// (4 MiB) in turn against the 7 slabs of a block of A's rows (mm-order). AMX's speeds are
// also given as a percentage of the AMX peak measured just before each (amx_peak%): what the
// host's tiles give at that moment, which drifted by more than 2x within one device run.
func BenchmarkMicroBF16Residency(b *testing.B) {
	const kp = 512
	r := rand.New(rand.NewPCG(3, 3))
	words := func(n int) []uint32 {
		w := make([]uint32, n)
		for i := range w {
			w[i] = uint32(ToBF16(float32(r.NormFloat64()))) | uint32(ToBF16(float32(r.NormFloat64())))<<16
		}
		return w
	}
	var ks []BF16
	for _, ahead := range prefetchDistances {
		_, bf := prefetching(ahead)
		for _, k := range bf {
			if k.Tiles || ahead == prefetchAhead {
				k.Name += fmt.Sprintf("/ahead=%d", ahead)
				ks = append(ks, k)
			}
		}
	}
	if len(ks) == 0 {
		b.Skip("no assembly bfloat16 kernel on this CPU")
	}
	for _, k := range ks {
		lda := kp + 16 // as MatMul's pairStride
		slab, panel := k.MR*lda, kp*k.NR
		for _, c := range []struct {
			name     string
			aMiB     float64 // bytes of A cycled through, in MiB (0: one slab)
			bMiB     float64
			panelsIn bool // B's panel changes only after every slab of A has used it
		}{{"hot", 0, 0, false}, {"a=L2", 1, 0, false}, {"b=L2", 0, 1, false}, {"both=L2", 1, 1, false}, {"b=mem", 0, 64, false}, {"mm-order", 0.45, 4, true}} {
			na := max(1, int(c.aMiB*(1<<20))/(4*slab))
			nb := max(1, int(c.bMiB*(1<<20))/(4*panel))
			a, bb, out := words(na*slab), words(nb*panel), make([]float32, k.MR*k.NR)
			b.Run(fmt.Sprintf("%s/%s", k.Name, c.name), func(b *testing.B) {
				peak := 0.0
				if k.Tiles {
					peak = amxPeakGFLOPS()
					b.ResetTimer()
				}
				i := 0
				for b.Loop() {
					ia, ib := i%na, i%nb
					if c.panelsIn {
						ib = i / na % nb
					}
					k.Micro(k.MR, kp, a[ia*slab:], lda, bb[ib*panel:], out, k.NR, true)
					i++
				}
				gflops := float64(2*k.MR*k.NR*2*kp) * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(gflops, "GFLOP/s")
				if peak > 0 {
					b.ReportMetric(100*gflops/peak, "amx_peak%")
				}
			})
		}
	}
}
