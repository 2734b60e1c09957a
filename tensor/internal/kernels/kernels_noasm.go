//go:build !(amd64 || arm64) || noasm

package kernels

import "github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"

// Without assembly, the pure-Go kernel serves; read-only after start.
var (
	available     = []Kernel{Generic(approx.GenericMR, approx.AVX2NR)}
	best          = available[0]
	availableBF16 = []BF16{GenericBF16(approx.GenericMR, approx.AVX2NR)}
	bestBF16      = availableBF16[0]
)

func peakFMA(n int) int64 { return peakGo(n) }
