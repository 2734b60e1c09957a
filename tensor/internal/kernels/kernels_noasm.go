//go:build !(amd64 || arm64) || noasm

package kernels

import "github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"

// Without assembly, the pure-Go kernel serves; read-only after start.
var (
	available = []Kernel{Generic(approx.GenericMR, approx.AVX2NR)}
	best      = available[0]
	bestBF16  = GenericBF16(approx.GenericMR, approx.AVX2NR)
)

func peakFMA(n int) int64 { return peakGo(n) }
