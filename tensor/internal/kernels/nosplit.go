//go:build !amd64 || noasm

package kernels

// The bfloat16 conversion and split kernels exist for AVX-512 only: elsewhere the scalar twins
// convert every value (bfloat16 products run only where the CPU multiplies bfloat16 pairs).
func pairsPrefix(int) int          { return 0 }
func pairsVec([]uint32, []float32) { panic("unreachable") }

func splitAVec([]uint32, []float32) int           { return 0 }
func splitBVec([]uint32, []float32, int, int) int { return 0 }
