//go:build arm64 && !noasm

package kernels

import "unsafe"

// The NEON element-wise kernels (generated into gemm_arm64.s) take the longest prefix that is
// a multiple of four values; the scalar twins finish the rest. Every arm64 CPU has NEON.

func vectorPrefix(n int) int { return n &^ 3 }

func maxVec(x []float32) float32 { return maxNEON(unsafe.SliceData(x), len(x)) }
func maxExponentVec(x []float32) uint32 {
	return maxExponentNEON(unsafe.SliceData(x), len(x))
}
func expSumVec(x []float32, scale, shift float32) float32 {
	return expSumNEON(unsafe.SliceData(x), len(x), scale, shift)
}
func scaleVec(x []float32, s float32) { scaleNEON(unsafe.SliceData(x), len(x), s) }

// widenPrefix is how many leading values the NEON bfloat16 widening takes: eight a step.
func widenPrefix(n int) int { return n &^ 7 }

func widenVec(dst []float32, src []uint16) {
	widenNEON(unsafe.SliceData(dst), unsafe.SliceData(src), len(src))
}

// The NEON add and GELU take one row a call.
func geluRowsVec(c []float32, ldc, rows, n int) {
	for r := range rows {
		geluNEON(&c[r*ldc], n)
	}
}
func addRowsVec(c []float32, ldc, rows int, v []float32) {
	for r := range rows {
		addNEON(&c[r*ldc], unsafe.SliceData(v), len(v))
	}
}
