//go:build amd64 && !noasm

package kernels

import (
	"fmt"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// prefetchDistances are the distances, in bytes, the prefetch test and benchmark compare (0:
// each step prefetches what it loads).
var prefetchDistances = []int{0, 1024, 2048, 4096, 8192, 16384}

// prefetching lists the kernel families that prefetch B, each at distance ahead: the AVX-512
// float32 family, AVX512-BF16 and AMX, those this CPU has.
func prefetching(ahead int) (f32 []Kernel, bf []BF16) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasFMA {
		f32 = append(f32, Kernel{Name: "avx512", MR: approx.AVX512MR, NR: approx.AVX512NR, Micro: wrap(avx512Table, approx.AVX512MR, approx.AVX512NR, ahead)})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		bf = append(bf, vecBF16(ahead))
	}
	if BestBF16().Tiles {
		bf = append(bf, BF16{Name: "amx-bf16", MR: approx.AMXMR, NR: approx.AMXNR, Micro: amxMicro(ahead), Tiles: true})
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
