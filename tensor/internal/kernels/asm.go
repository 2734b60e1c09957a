//go:build (amd64 || arm64) && !noasm

package kernels

import "unsafe"

// asmKernel is one generated micro-kernel of a given tile height. Those that prefetch B (the
// AVX-512 kernels of up to eight rows) prefetch ahead bytes further on than they load; the
// others ignore ahead.
type asmKernel func(kc int, a *float32, lda int, b, c *float32, ldc int, accumulate bool, ahead int)

// wrap turns a table of per-mr assembly kernels into a Micro, checking the slice bounds the
// assembly relies on (a programmer error panics here, never a wild write), with the prefetch
// distance ahead.
func wrap(table []asmKernel, mrMax, nr, ahead int) Micro {
	return func(mr, kc int, a []float32, lda int, b, c []float32, ldc int, accumulate bool) {
		if mr < 1 || mr > mrMax || kc < 1 || len(a) < (mr-1)*lda+kc || len(b) < kc*nr || len(c) < (mr-1)*ldc+nr {
			panic("kernels: micro-kernel called out of bounds")
		}
		table[mr-1](kc, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate, ahead)
	}
}
