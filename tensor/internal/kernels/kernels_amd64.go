//go:build amd64 && !noasm

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

type asmKernel func(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)

// Implemented in gemm_amd64.s.
func avx512x1(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x2(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x3(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x4(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x5(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x6(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x7(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x8(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x9(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x10(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x11(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x12(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x13(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx512x14(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x1(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x2(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x3(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x4(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x5(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)
func avx2x6(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool)

var (
	avx512Table = []asmKernel{avx512x1, avx512x2, avx512x3, avx512x4, avx512x5, avx512x6, avx512x7,
		avx512x8, avx512x9, avx512x10, avx512x11, avx512x12, avx512x13, avx512x14}
	avx2Table = []asmKernel{avx2x1, avx2x2, avx2x3, avx2x4, avx2x5, avx2x6}
)

// wrap turns a table of per-mr assembly kernels into a Micro, checking the slice bounds the
// assembly relies on (a programmer error panics here, never a wild write).
func wrap(table []asmKernel, mrMax, nr int) Micro {
	return func(mr, kc int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
		if mr < 1 || mr > mrMax || kc < 1 || len(a) < (mr-1)*lda+kc || len(b) < kc*nr || len(c) < (mr-1)*ldc+nr {
			panic("kernels: micro-kernel called out of bounds")
		}
		table[mr-1](kc, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate)
	}
}

func detect() []Kernel {
	var ks []Kernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasFMA {
		ks = append(ks, Kernel{Name: "avx512", MR: 14, NR: 32, Micro: wrap(avx512Table, 14, 32)})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, Kernel{Name: "avx2", MR: 6, NR: 16, Micro: wrap(avx2Table, 6, 16)})
	}
	return append(ks, Generic(4, 16))
}

// Chosen once at start; read-only afterwards.
var (
	available = detect()
	best      = available[0]
)

// Implemented in gemm_amd64.s; n is a multiple of 16.
func maxAVX512(x *float32, n int) float32
func expSumAVX512(x *float32, n int, shift float32) float32
func geluAVX512(x *float32, n int)

// hasAVX512 selects the vector element-wise kernels; read-only after start.
var hasAVX512 = cpu.X86.HasAVX512F

// vectorPrefix is how many leading values the vector kernels take.
func vectorPrefix(n int) int {
	if !hasAVX512 {
		return 0
	}
	return n &^ 15
}

func maxVec(x []float32) float32 { return maxAVX512(unsafe.SliceData(x), len(x)) }
func expSumVec(x []float32, shift float32) float32 {
	return expSumAVX512(unsafe.SliceData(x), len(x), shift)
}
func geluVec(x []float32) { geluAVX512(unsafe.SliceData(x), len(x)) }
