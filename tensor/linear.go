package tensor

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Linear is a fully connected layer y = x·Wᵀ + b. Weight is [Out, In], as PyTorch's nn.Linear
// stores it, or [Out, ...] for a convolution applied as a product (In is then the product of
// the trailing axes); Bias is [Out].
type Linear struct {
	Weight *Tensor `weights:"weight"`
	Bias   *Tensor `weights:"bias"`
}

// NewLinear declares a linear layer from in to out features, for the weight binder to fill.
func NewLinear(in, out int) Linear {
	return Linear{Weight: Declare(out, in), Bias: Declare(out)}
}

// In is the number of input features.
func (l *Linear) In() int { return l.Weight.Len() / l.Weight.Shape[0] }

// Out is the number of output features.
func (l *Linear) Out() int { return l.Weight.Shape[0] }

// Forward computes dst[M, Out] = x[M, In]·Wᵀ + b for every row of x.
func (l *Linear) Forward(p *Pool, dst, x *Tensor) {
	m, in, out := x.Rows(), l.In(), l.Out()
	if x.Cols() != in || dst.Cols() != out || dst.Rows() != m {
		panic(fmt.Sprintf("tensor: linear %dx%d: x %v, dst %v", out, in, x.Shape, dst.Shape))
	}
	MatMulT(p, dst.Data, x.Data, l.Weight.Data, m, in, out)
	if l.Bias != nil {
		b := l.Bias.Data
		for r := 0; r < m; r++ {
			AddInPlace(dst.Data[r*out:(r+1)*out], b)
		}
	}
}

// MatMulT computes c[m, n] = a[m, k]·bᵀ for b stored as [n, k], all row-major and dense.
//
// Reference loop:
//
//	for i := range m { for j := range n { c[i*n+j] = Σ_p a[i*k+p] * b[j*k+p] } }
//
// The work is split over the rows of c, each block written by one worker.
func MatMulT(p *Pool, c, a, b []float32, m, k, n int) {
	if len(a) < m*k || len(b) < n*k || len(c) < m*n {
		panic(fmt.Sprintf("tensor: matmul %dx%dx%d with a %d, b %d, c %d", m, k, n, len(a), len(b), len(c)))
	}
	impl := blas32.Implementation()
	// Split over rows when there are many; over columns for the thin products of decode steps.
	if m >= 2*p.Size() {
		p.ForGrain(m, 16, func(lo, hi int) {
			impl.Sgemm(blas.NoTrans, blas.Trans, hi-lo, n, k, 1, a[lo*k:], k, b, k, 0, c[lo*n:], n)
		})
		return
	}
	p.ForGrain(n, 64, func(lo, hi int) {
		impl.Sgemm(blas.NoTrans, blas.Trans, m, hi-lo, k, 1, a, k, b[lo*k:], k, 0, c[lo:], n)
	})
}

// AddInPlace adds src to dst element-wise: dst[i] += src[i].
func AddInPlace(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
