//go:build !(amd64 || arm64) || noasm

package kernels

// Without vector element-wise kernels (architectures other than amd64 and arm64, and noasm),
// the scalar twins do all the work: no prefix goes to a vector kernel.
func vectorPrefix(int) int                          { return 0 }
func maxVec([]float32) float32                      { panic("unreachable") }
func maxExponentVec([]float32) uint32               { panic("unreachable") }
func expSumVec([]float32, float32, float32) float32 { panic("unreachable") }
func scaleVec([]float32, float32)                   { panic("unreachable") }
func geluRowsVec([]float32, int, int, int)          { panic("unreachable") }
func addRowsVec([]float32, int, int, []float32)     { panic("unreachable") }
func widenPrefix(int) int                           { return 0 }
func widenVec([]float32, []uint16)                  { panic("unreachable") }
