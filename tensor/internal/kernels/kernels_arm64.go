//go:build arm64 && !noasm

package kernels

import "github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"

// Every arm64 CPU has NEON (Advanced SIMD): the generated 6x16 kernels, then the pure-Go twin.
// The element-wise and bfloat16 kernels are the pure-Go ones here.
func detect() []Kernel {
	return []Kernel{
		{Name: "neon", MR: approx.NEONMR, NR: approx.NEONNR, Micro: wrap(neonTable, approx.NEONMR, approx.NEONNR)},
		Generic(approx.GenericMR, approx.NEONNR),
	}
}

// Chosen once at start; read-only afterwards.
var (
	available = detect()
	best      = available[0]
	bestBF16  = GenericBF16(approx.GenericMR, approx.NEONNR)
)

func vectorPrefix(int) int                          { return 0 }
func maxVec([]float32) float32                      { panic("unreachable") }
func expSumVec([]float32, float32, float32) float32 { panic("unreachable") }
func scaleVec([]float32, float32)                   { panic("unreachable") }
func geluVec([]float32)                             { panic("unreachable") }

func pairsPrefix(int) int          { return 0 }
func pairsVec([]uint32, []float32) { panic("unreachable") }

func peakFMA(n int) int64 { return peakGo(n) }
