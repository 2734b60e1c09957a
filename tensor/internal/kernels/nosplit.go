//go:build !amd64 || noasm

package kernels

// The bfloat16 conversion and split kernels and the layer norm's float64 kernels exist for
// AVX-512 only: elsewhere the scalar twins do all the work (bfloat16 products run only where
// the CPU multiplies bfloat16 pairs; the layer norm's sums keep the kernels' order).
func pairsPrefix(int) int          { return 0 }
func pairsVec([]uint32, []float32) { panic("unreachable") }

func splitAVec([]uint32, []float32) int           { return 0 }
func splitBVec([]uint32, []float32, int, int) int { return 0 }

func f64Vec() bool                                    { return false }
func sumF64Vec([]float32) float64                     { panic("unreachable") }
func squaresF64Vec([]float32, float64) float64        { panic("unreachable") }
func normalizeVec(_, _, _, _ []float32, _, _ float64) { panic("unreachable") }

// No AMX here (see PeakAMX).
func peakAMX(int) int64 { return 0 }
