//go:build !amd64 || noasm

package kernels

// Without the AVX-512 element-wise kernels (other architectures, arm64 included, and noasm),
// the scalar twins do all the work: no prefix goes to a vector kernel.
func vectorPrefix(int) int                          { return 0 }
func maxVec([]float32) float32                      { panic("unreachable") }
func expSumVec([]float32, float32, float32) float32 { panic("unreachable") }
func scaleVec([]float32, float32)                   { panic("unreachable") }
func geluVec([]float32)                             { panic("unreachable") }
func addVec([]float32, []float32)                   { panic("unreachable") }

func pairsPrefix(int) int          { return 0 }
func pairsVec([]uint32, []float32) { panic("unreachable") }

func splitAVec([]uint32, []float32) int           { return 0 }
func splitBVec([]uint32, []float32, int, int) int { return 0 }
