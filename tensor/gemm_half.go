package tensor

import (
	"unsafe"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// BFloat16 on CPUs without bfloat16 products (Intel before Cooper Lake, AMD before Zen 4, with
// AVX2 or AVX-512; arm64 with NEON): the weights are rounded to bfloat16 once, at load, and
// stored so, half float32's memory; every product widens each panel back to float32 (exactly:
// a shift) and runs the float32 kernel on it, with the activations in float32. A tall product
// widens a panel once into scratch for all its rows, which costs nothing beside the
// arithmetic; a decode step's kernels widen the panels in registers as they load them
// (kernels.MicroHalf) and so read half the bytes. Results are float32's for the
// bfloat16-rounded weights, bit for bit.

// halfWeights reports whether the precision's layers store bfloat16 weights for the float32
// kernels: BFloat16 where the CPU multiplies no bfloat16 pairs (or slower than float32) and
// widens bfloat16 with vector instructions.
func (pr Precision) halfWeights() bool {
	_, pairs := pr.pairKernel()
	return pr == BFloat16 && !pairs && kernels.FastFromBF16()
}

// packHalf packs B [n, k] (row stride ldb; read as its transpose when transposed, as pack reads
// it) as pack does for kern, each panel rounded to bfloat16 as it is packed (through one
// float32 panel of scratch per worker) into the arena.
func packHalf(p *Pool, arena *Arena, kern kernels.Kernel, b []float32, n, k, ldb int, transposed bool) *Packed {
	nr := kern.NR
	size := packedLen(kern, n, k) // even: NR is
	words := float32Bits(arena.alloc(size / 2))
	pm := &Packed{N: n, K: k, kernel: kern, kc: kcBlock, layoutN: n, layoutK: k, transposed: transposed}
	if size > 0 {
		pm.half = unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(words))), size)
	}
	p.ForGrain(panels(n, nr), 1, func(lo, hi int) {
		panel := make([]float32, pm.kc*nr)
		for j := lo; j < hi; j++ { // each panel through every pass, as packInto
			for k0 := 0; k0 < k; k0 += pm.kc {
				off, depth := pm.panelOffset(k0, j)
				pm.fillPanel(panel, b, ldb, k0, j)
				// Each word holds two neighbouring values of the panel, the first in its low
				// half: the order of half's values on a little-endian CPU (amd64, and arm64
				// as Go runs it).
				kernels.ToBF16Pairs(words[off/2:(off+depth*nr)/2], panel[:depth*nr])
			}
		}
	})
	return pm
}

// halfPass is the float32 pass over columns [k0, k0+kc) of K for half-packed B, reading A's
// rows from a (row stride lda). Without widened (a product of one row tile, such as a decode
// step's) the kernel reads the bfloat16 panels itself (MicroHalf); with it each worker widens
// the panel its tiles are about to use into its slice of widened (made on first use), once
// for every row tile of that panel. (Widening a decode step's panels instead, one tile each,
// made its products no faster than float32's on a Cascade Lake Xeon: the widening's stores
// and the kernel's loads of them took what reading half the bytes saved.)
func (pm *Packed) halfPass(k0, kc int, a []float32, lda int, widened [][]float32) pass {
	kern := pm.kernel
	nr := kern.NR
	base, depth := pm.panelOffset(k0, 0)
	// panel is panel j's bfloat16 values.
	panel := func(j int) []uint16 { return pm.half[base+j*depth*nr:][:kc*nr] }
	if widened == nil {
		return pass{k0: k0, k: kc, tile: func(rows, i0, j int, dst []float32, ldd int, acc bool) {
			kern.MicroHalf(rows, kc, a[i0*lda:], lda, panel(j), dst, ldd, acc)
		}}
	}
	return pass{k0: k0, k: kc, perWorker: func(w int) tileFunc {
		if widened[w] == nil {
			widened[w] = make([]float32, pm.kc*nr)
		}
		wide, at := widened[w][:kc*nr], -1
		return func(rows, i0, j int, dst []float32, ldd int, acc bool) {
			if j != at {
				kernels.FromBF16(wide, panel(j))
				at = j
			}
			kern.Micro(rows, kc, a[i0*lda:], lda, wide, dst, ldd, acc)
		}
	}}
}
