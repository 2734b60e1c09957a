package tensor

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// kcBlock is the depth of one pass over K: a kcBlock×NR panel of B (32 KiB for AVX-512) stays in
// L1 while the packed A block (≤ M×kcBlock) streams from L2.
const kcBlock = 256

// Packed is a matrix B of N rows and K columns (a weight [out, in], or keys of attention)
// repacked once for the micro-kernel: for each block of kcBlock columns of K, for each panel
// of NR rows of N, kc×NR values stored k-major, zero-padded past N. MatMul then computes
// C = A·Bᵀ.
type Packed struct {
	N, K   int
	kernel kernels.Kernel
	data   []float32
}

func panels(n, nr int) int { return (n + nr - 1) / nr }

// Pack repacks B for the fastest kernel. b is read as B[n, k] = b[n*ldb+k], or, when
// transposed, B[n, k] = b[k*ldb+n] (a [K, N] matrix such as attention values). Packing runs
// on the pool's workers.
func Pack(p *Pool, b []float32, n, k, ldb int, transposed bool) *Packed {
	return PackWith(p, kernels.Best(), b, n, k, ldb, transposed)
}

// PackWith is Pack for a given kernel (tests use it to compare kernels).
func PackWith(p *Pool, kern kernels.Kernel, b []float32, n, k, ldb int, transposed bool) *Packed {
	nr := kern.NR
	np := panels(n, nr)
	pm := &Packed{N: n, K: k, kernel: kern, data: make([]float32, np*nr*k)}
	p.ForGrain(np, 1, func(lo, hi int) {
		for kc0 := 0; kc0 < k; kc0 += kcBlock {
			kc := min(kcBlock, k-kc0)
			for j := lo; j < hi; j++ {
				dst := pm.data[kc0*np*nr+j*kc*nr:]
				cols := min(nr, n-j*nr)
				for q := 0; q < kc; q++ {
					row := dst[q*nr : q*nr+cols]
					if transposed {
						copy(row, b[(kc0+q)*ldb+j*nr:])
					} else {
						for c := range row {
							row[c] = b[(j*nr+c)*ldb+kc0+q]
						}
					}
				}
			}
		}
	})
	return pm
}

// MatMul computes C[M, N] = A[M, K]·Bᵀ, A[i, k] = a[i*lda+k], C[i, j] = c[i*ldc+j]. Work is split
// over panels of N across the pool; each tile of C is written by one worker. Packing A is
// split over row blocks.
func (pm *Packed) MatMul(p *Pool, c []float32, ldc int, a []float32, lda int, m int) {
	if m == 0 || pm.N == 0 {
		return
	}
	if pm.K == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+pm.N])
		}
		return
	}
	if len(a) < (m-1)*lda+pm.K || len(c) < (m-1)*ldc+pm.N {
		panic(fmt.Sprintf("tensor: matmul %dx%dx%d with a %d (lda %d), c %d (ldc %d)", m, pm.K, pm.N, len(a), lda, len(c), ldc))
	}
	kern := pm.kernel
	mr, nr := kern.MR, kern.NR
	mb := (m + mr - 1) / mr
	np := panels(pm.N, nr)
	apack := make([]float32, mb*mr*min(kcBlock, pm.K))
	fullPanels := pm.N / nr
	for kc0 := 0; kc0 < pm.K; kc0 += kcBlock {
		kc := min(kcBlock, pm.K-kc0)
		p.ForGrain(mb, 4, func(lo, hi int) {
			for ib := lo; ib < hi; ib++ {
				blk := apack[ib*kc*mr : (ib+1)*kc*mr]
				rows := min(mr, m-ib*mr)
				for r := 0; r < rows; r++ {
					src := a[(ib*mr+r)*lda+kc0 : (ib*mr+r)*lda+kc0+kc]
					for q, v := range src {
						blk[q*mr+r] = v
					}
				}
			}
		})
		acc := kc0 > 0
		bBlock := pm.data[kc0*np*nr:]
		p.ForGrain(np, 1, func(lo, hi int) {
			var tile []float32
			for j := lo; j < hi; j++ {
				b := bBlock[j*kc*nr : (j+1)*kc*nr]
				for ib := 0; ib < mb; ib++ {
					rows := min(mr, m-ib*mr)
					ablk := apack[ib*kc*mr:]
					if j < fullPanels {
						kern.Micro(rows, kc, ablk, b, c[ib*mr*ldc+j*nr:], ldc, acc)
						continue
					}
					// The last panel is narrower than NR: go through a full-width tile.
					if tile == nil {
						tile = make([]float32, mr*nr)
					}
					cols := pm.N - j*nr
					if acc {
						for r := 0; r < rows; r++ {
							copy(tile[r*nr:r*nr+cols], c[(ib*mr+r)*ldc+j*nr:])
						}
					}
					kern.Micro(rows, kc, ablk, b, tile, nr, acc)
					for r := 0; r < rows; r++ {
						copy(c[(ib*mr+r)*ldc+j*nr:(ib*mr+r)*ldc+j*nr+cols], tile[r*nr:])
					}
				}
			}
		})
	}
}
