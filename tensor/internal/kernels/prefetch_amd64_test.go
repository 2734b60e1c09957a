//go:build amd64 && !noasm

package kernels

import (
	"fmt"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// prefetchDistances are the distances, in bytes, BenchmarkPrefetch compares.
var prefetchDistances = []int{1024, 2048, 4096, 8192, 16384}

// TestPrefetchAgrees: the kernels of up to eight rows, which prefetch, give their twins' values
// at every prefetch distance (a prefetch changes none).
func TestPrefetchAgrees(t *testing.T) {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512VL || !cpu.X86.HasFMA {
		t.Skip("no AVX-512")
	}
	for _, ahead := range prefetchDistances {
		k := Kernel{Name: fmt.Sprint("avx512/ahead=", ahead), MR: approx.AVX512MR, NR: approx.AVX512NR, Micro: wrap(avx512Table, approx.AVX512MR, approx.AVX512NR, ahead)}
		for _, mr := range []int{1, 2, 5, 8} {
			runBoth(t, k, mr, 300, 3, 1, true, uint64(ahead+mr))
		}
		if cpu.X86.HasAVX512BF16 {
			for _, mr := range []int{1, 2, 5, 8} {
				runBF16(t, vecBF16(ahead), mr, 150, 3, 1, true, uint64(ahead+mr))
			}
		}
	}
}

// BenchmarkPrefetch times the one-row float32 and bfloat16 AVX-512 kernels against weights
// streamed from memory, as a decode step's products run them (64 MiB of panels, each read
// once a pass), for each prefetch distance, in GB/s of weights: the distance to choose per CPU.
func BenchmarkPrefetch(b *testing.B) {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512VL || !cpu.X86.HasFMA {
		b.Skip("no AVX-512")
	}
	const kc = 256
	for _, ahead := range prefetchDistances {
		k := wrap(avx512Table, approx.AVX512MR, approx.AVX512NR, ahead)
		panel := kc * approx.AVX512NR
		nb := (64 << 20) / (4 * panel)
		a, bb, c := make([]float32, kc), make([]float32, nb*panel), make([]float32, approx.AVX512NR)
		for i := range bb {
			bb[i] = 1 // resident pages, not the shared zero page
		}
		b.Run(fmt.Sprint("float32/ahead=", ahead), func(b *testing.B) {
			i := 0
			for b.Loop() {
				k(1, kc, a, kc, bb[i%nb*panel:], c, approx.AVX512NR, false)
				i++
			}
			b.ReportMetric(float64(4*panel)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
		if !cpu.X86.HasAVX512BF16 {
			continue
		}
		kb := vecBF16(ahead)
		pw, nw := kc/2*kb.NR, (64<<20)/(4*(kc/2*kb.NR))
		aw, bw := make([]uint32, kc/2), make([]uint32, nw*pw)
		for i := range bw {
			bw[i] = 0x3f803f80
		}
		b.Run(fmt.Sprint("bfloat16/ahead=", ahead), func(b *testing.B) {
			i := 0
			for b.Loop() {
				kb.Micro(1, kc/2, aw, kc/2, bw[i%nw*pw:], c, kb.NR, false)
				i++
			}
			b.ReportMetric(float64(4*pw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
