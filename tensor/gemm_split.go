package tensor

import "github.com/imagesemantics/blipgo/tensor/internal/kernels"

// The BFloat16x3 precision: float32-accurate products on bfloat16 hardware (see
// kernels.SplitA). Weights stay packed as float32 panels, so they take float32's memory (the
// split parts would take three times as much); each pass over K splits its slice of A
// once and each worker splits the panel of B it is about to use, which then serves every row
// tile of that panel. Short products (decode steps, up to one tile of rows) run the float32
// kernel on the same panels instead: they are bound by reading the weights, not by arithmetic.

// packSplit packs B [n, k] (row stride ldb) as float32 panels of kern's width for BFloat16x3
// products with kern.
func packSplit(p *Pool, arena *Arena, kern kernels.BF16, b []float32, n, k, ldb int) *Packed {
	pm := pack(p, arena, float32Kernel(kern.NR), b, n, k, ldb, false)
	pm.split = &kern
	return pm
}

// float32Kernel is the fastest float32 kernel of panel width nr.
func float32Kernel(nr int) kernels.Kernel {
	for _, k := range kernels.Available() {
		if k.NR == nr {
			return k
		}
	}
	return kernels.Generic(4, nr)
}

// matMulSplit is MatMul for a BFloat16x3 layer. Each pass sums the main product of the
// bfloat16 parts and their corrections in tiles of their own, from zero, and adds them to C
// once, (main + corrections) + C, as the float32 kernels add a pass: C may hold a residual
// much larger than a pass, and a kernel that added its partial sums into it would round at
// C's scale as often as it adds (AMX adds every 16 pairs: eight times a pass, which tripled
// the full-size vision encoder's error when the main product accumulated in C).
func (pm *Packed) matMulSplit(p *Pool, c []float32, ldc int, a []float32, lda int, m int, ep Epilogue) {
	kern := *pm.split
	mr, nr := kern.MR, kern.NR
	aStrideSplit := unaliased(kernels.SplitLen(pm.kc) + 16) // A's split copy
	apack := make([]uint32, m*aStrideSplit)
	// Each worker's split panel of B and its two tiles, made on its first chunk and kept for
	// every chunk and pass after: tiles hands a tall product's panels out in a few chunks a
	// worker (Pool.forBalanced), and made per chunk they were ~160 KB of garbage each, about
	// 0.8 GB a BLIP-large vision encoder.
	type scratch struct {
		panel      []uint32
		main, corr []float32
	}
	workers := make([]*scratch, p.Size())
	for kc0 := 0; kc0 < pm.K; kc0 += pm.kc {
		kc := min(pm.kc, pm.K-kc0)
		km, kp := kernels.SplitMain(kc), kernels.SplitLen(kc)
		p.ForGrain(m, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				kernels.SplitA(apack[i*aStrideSplit:], a[i*lda+kc0:i*lda+kc0+kc])
			}
		})
		pm.tiles(p, c, ldc, m, mr, m, nr, ep, []pass{{k0: kc0, k: kc, perWorker: func(w int) tileFunc {
			if workers[w] == nil {
				workers[w] = &scratch{make([]uint32, kernels.SplitLen(pm.kc)*nr), make([]float32, mr*nr), make([]float32, mr*nr)}
			}
			panel, main, corr := workers[w].panel[:kp*nr], workers[w].main, workers[w].corr
			split := -1 // the panel split into panel: none yet in this chunk's pass
			return func(rows, i0, j int, dst []float32, ldd int, acc bool) {
				if j != split {
					kernels.SplitB(panel, pm.panel(kc0, j)[:kc*nr], kc, nr)
					split = j
				}
				arows := apack[i0*aStrideSplit:]
				kern.Micro(rows, km, arows, aStrideSplit, panel[:km*nr], main, nr, false)
				kern.Micro(rows, kp-km, arows[km:], aStrideSplit, panel[km*nr:], corr, nr, false)
				for r := 0; r < rows; r++ {
					sum, row := main[r*nr:(r+1)*nr], dst[r*ldd:r*ldd+nr]
					AddInPlace(sum, corr[r*nr:(r+1)*nr])
					if acc {
						AddInPlace(row, sum)
					} else {
						copy(row, sum)
					}
				}
			}
		}}})
	}
}
