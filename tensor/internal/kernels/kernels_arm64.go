//go:build arm64 && !noasm

package kernels

import "github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"

// Every arm64 CPU has NEON (Advanced SIMD): the generated 6x16 kernels (and their twins over
// bfloat16 panels, for BFloat16's weights), then the pure-Go twin. The element-wise kernels
// are NEON too (elementwise_arm64.go); the bfloat16 kernel is the pure-Go one, which the
// precisions never run here (no bfloat16 products).
func detect() []Kernel {
	return []Kernel{
		{Name: "neon", MR: approx.NEONMR, NR: approx.NEONNR, Micro: wrap(neonTable, approx.NEONMR, approx.NEONNR, 0),
			MicroHalf: wrapHalf(neonhTable, approx.NEONMR, approx.NEONNR, 0)},
		Generic(approx.GenericMR, approx.NEONNR),
	}
}

// Chosen once at start; read-only afterwards.
var (
	available     = detect()
	best          = available[0]
	availableBF16 = []BF16{GenericBF16(approx.GenericMR, approx.NEONNR)}
	bestBF16      = availableBF16[0]
)

func peakFMA(n int) int64 { return peakGo(n) }
