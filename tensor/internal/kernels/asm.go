//go:build (amd64 || arm64) && !noasm

package kernels

import "unsafe"

// asmKernel is one generated micro-kernel of a given tile height. Those that prefetch B (the
// AVX-512 kernels of up to eight rows) prefetch ahead bytes further on than they load; the
// others ignore ahead. A family's tallest kernel prefetches next rows of C from the tile mr
// rows below its own (see nextRows); the others, and the NEON kernels, ignore next.
type asmKernel func(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool, ahead, next int)

// wrap turns a table of per-mr assembly kernels into a Micro, checking the slice bounds the
// assembly relies on (a programmer error panics here, never a wild write), with the prefetch
// distance ahead.
func wrap(table []asmKernel, mrMax, nr, ahead int) Micro {
	return func(mr, kc int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
		checkCall(mr, mrMax, kc, len(a), lda, len(b), nr, len(c), ldc)
		table[mr-1](kc, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate, ahead, nextRows(mr, mrMax, nr, c, ldc))
	}
}

// checkCall panics unless a kernel call of mr rows (at most mrMax) and depth kc stays within
// A (lenA values, row stride lda), a panel of B (lenB values, nr a row) and C (lenC values,
// row stride ldc): a programmer error panics here, never a wild write.
func checkCall(mr, mrMax, kc, lenA, lda, lenB, nr, lenC, ldc int) {
	if mr < 1 || mr > mrMax || kc < 1 || lenA < (mr-1)*lda+kc || lenB < kc*nr || lenC < (mr-1)*ldc+nr {
		panic("kernels: micro-kernel called out of bounds")
	}
}

// nextRows is how many rows of C a kernel of a family whose tallest tile is mrMax rows may
// prefetch as the next tile's: only a full tile's kernel does (MatMul runs a panel's tiles top
// to bottom, each but the last mrMax rows tall), up to mrMax rows of c (row stride ldc, rows
// of nr values) from mr rows below the tile's first. A prefetch never faults; this keeps it
// within C, where the data is the next call's.
func nextRows(mr, mrMax, nr int, c []float32, ldc int) int {
	switch {
	case mr != mrMax || ldc < nr:
		return 0
	case len(c) >= (2*mr-1)*ldc+nr: // a whole tile below, the common case: no division
		return mrMax
	}
	return max(0, (len(c)-nr)/ldc+1-mr)
}

// asmHalfKernel is asmKernel over a panel of B stored as bfloat16.
type asmHalfKernel func(kc int, a *float32, lda int, b *uint16, c *float32, ldc int, accumulate bool, ahead, next int)

// wrapHalf is wrap for a table of bfloat16-panel kernels.
func wrapHalf(table []asmHalfKernel, mrMax, nr, ahead int) MicroHalf {
	return func(mr, kc int, a []float32, lda int, b []uint16, c []float32, ldc int, accumulate bool) {
		checkCall(mr, mrMax, kc, len(a), lda, len(b), nr, len(c), ldc)
		table[mr-1](kc, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate, ahead, nextRows(mr, mrMax, nr, c, ldc))
	}
}
