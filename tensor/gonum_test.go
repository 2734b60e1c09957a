package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// BenchmarkPortableVsGonum compares, on the same shapes in one run, the portable path (the
// blocked, parallel MatMul with the pure-Go micro-kernel, what -tags noasm and architectures
// without assembly run) with gonum's Sgemm (blas32.Gemm), the design's named fallback. Run it
// with -tags noasm for a like-for-like pure-Go comparison (gonum then uses no assembly either).
func BenchmarkPortableVsGonum(b *testing.B) {
	for _, sz := range [][3]int{{577, 1024, 1024}, {577, 1024, 4096}, {1, 768, 3072}} {
		m, k, n := sz[0], sz[1], sz[2]
		r := rand.New(rand.NewPCG(1, 1))
		a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		flops := float64(2 * m * k * n)
		b.Run(fmt.Sprintf("portable/%dx%dx%d", m, k, n), func(b *testing.B) {
			p := NewPool(0)
			pm := pack(p, nil, kernels.Generic(4, 16), w, n, k, k, false)
			for b.Loop() {
				pm.MatMul(p, c, n, a, k, m)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("gonum/%dx%dx%d", m, k, n), func(b *testing.B) {
			A := blas32.General{Rows: m, Cols: k, Stride: k, Data: a}
			W := blas32.General{Rows: n, Cols: k, Stride: k, Data: w}
			C := blas32.General{Rows: m, Cols: n, Stride: n, Data: c}
			for b.Loop() {
				blas32.Gemm(blas.NoTrans, blas.Trans, 1, A, W, 0, C)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
