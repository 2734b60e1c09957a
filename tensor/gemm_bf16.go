package tensor

import (
	"fmt"
	"sync"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// Precision selects how a Linear layer's product is computed.
type Precision int

const (
	// Float32 multiplies in float32: the default, matching transformers' float32 results.
	Float32 Precision = iota
	// BFloat16 rounds weights and activations to bfloat16 and accumulates in float32, twice as
	// fast where the CPU has AVX512-BF16 (AMX: see the README's Speed section) and half the
	// weight memory; opt-in, because it changes results (see the README for its agreement with
	// float32 on the golden cases). Where the CPU has no bfloat16 products but AVX2, AVX-512
	// or NEON (Intel before Cooper Lake, AMD before Zen 4, arm64) it rounds only the weights,
	// stores them so (half the memory, half the bytes a decode step reads) and runs the
	// float32 kernels on them, activations in float32 (see packHalf). Without vector kernels
	// (noasm) it is Float32: the pure-Go bfloat16 kernel would be tens of times slower.
	BFloat16
	// BFloat16x3 computes float32-accurate products from three bfloat16 parts of every value
	// and six bfloat16 products (see kernels.SplitA), for CPUs whose bfloat16 units (AMX)
	// outrun their float32 ones by more than six times. Weights keep float32's memory. Where
	// the CPU has no bfloat16 instructions it is Float32.
	BFloat16x3
)

// kpBlock is kcBlock in bfloat16 pairs: the depth of one pass of the vector bfloat16 kernel.
const kpBlock = kcBlock / 2

// The AMX kernels' blocking: passes of amxBlock pairs of k (1024 values), over blocks of rows
// of A of about amxRowBytes bytes of bfloat16 pairs that a worker keeps in L2 while its panels
// of B stream past. Measured inside MatMul on the device machine's Xeon (2 pinned cores,
// BenchmarkMatMulAMXBlocks, two rounds): 577x1024x4096 and 577x4096x1024 ran at 410-465
// GFLOP/s with 512 pairs and 512 KiB, 394-444 with one pass over the whole of K and 1 MiB,
// 373-427 with 256 pairs and 313-362 with the vector kernel's 128 (each pass sends the tile of
// C back to memory, which at AMX speed costs more than the products).
const (
	amxBlock    = 512
	amxRowBytes = 512 << 10
)

// bf16Block is the depth, in pairs, of each pass over K for kern: amxBlock for the AMX
// kernels, kpBlock (whose panel stays in L1) for the vector kernel.
func bf16Block(kern kernels.BF16) int {
	if kern.Tiles {
		return amxBlock
	}
	return kpBlock
}

// pairStride is the row stride, in words, of A's bfloat16 copy for passes of block pairs:
// 16 words over, so that rows do not all fall in the same few L1 sets.
func pairStride(block int) int { return block + 16 }

// packBF16 packs B [n, k] (row stride ldb; transposed, see packBF16Blocks) as bfloat16 pairs
// for the bf16 kernel: for each block of bf16Block pairs, for each panel of NR rows of N, kp×NR
// words.
func packBF16(p *Pool, arena *Arena, kern kernels.BF16, b []float32, n, k, ldb int, transposed bool) *Packed {
	return packBF16Blocks(p, arena, kern, b, n, k, ldb, transposed, bf16Block(kern), amxRowBytes)
}

// packBF16Blocks is packBF16 with passes of block pairs over blocks of rows of A of about
// rowBytes bytes (for the AMX kernels; the vector kernel's passes cover all rows). When
// transposed, b is read as B[n, k] = b[k*ldb+n] (a [K, N] matrix such as attention's values):
// a word of a panel then pairs two neighbouring rows of b, which are interleaved and rounded
// in one pass, where B's own rows are rounded and then scattered down the panel's columns.
func packBF16Blocks(p *Pool, arena *Arena, kern kernels.BF16, b []float32, n, k, ldb int, transposed bool, block, rowBytes int) *Packed {
	nr := kern.NR
	np := panels(n, nr)
	kpairs := (k + 1) / 2
	words := arena.alloc(np * nr * kpairs)
	pm := &Packed{N: n, K: k, bf16: &kern, words: float32Bits(words), block: block, rowBytes: rowBytes}
	p.ForGrain(np, 1, func(lo, hi int) {
		var row []uint32  // a row of B's pairs, before it is scattered down the panel
		var two []float32 // transposed: two rows of b's panel, interleaved
		if transposed {
			two = make([]float32, 2*nr)
		} else {
			row = make([]uint32, block)
		}
		for kp0 := 0; kp0 < kpairs; kp0 += block {
			kp := min(block, kpairs-kp0)
			for j := lo; j < hi; j++ {
				dst := pm.words[kp0*np*nr+j*kp*nr:]
				cols := min(nr, n-j*nr)
				if transposed {
					for q := 0; q < kp; q++ {
						r := 2 * (kp0 + q) // the row of b in the pair's low half
						for c, x := range b[r*ldb+j*nr:][:cols] {
							two[2*c], two[2*c+1] = x, 0
						}
						if r+1 < k { // else the pair's high half is past K: zero
							for c, x := range b[(r+1)*ldb+j*nr:][:cols] {
								two[2*c+1] = x
							}
						}
						clear(two[2*cols:])
						kernels.ToBF16Pairs(dst[q*nr:(q+1)*nr], two)
					}
					continue
				}
				for c := 0; c < cols; c++ {
					src := b[(j*nr+c)*ldb:]
					k0 := 2 * kp0
					kernels.ToBF16Pairs(row[:kp], src[k0:min(k, k0+2*kp)])
					for q, w := range row[:kp] {
						dst[q*nr+c] = w
					}
				}
			}
		}
	})
	return pm
}

// matMulBF16 is MatMul for bfloat16-packed B: A is rounded to bfloat16 pairs before the kernel
// runs over it, pass by pass for tall products, whole for a decode step's few rows (which then
// take every pass in one call of the pool).
func (pm *Packed) matMulBF16(p *Pool, c []float32, ldc int, a []float32, lda int, m int, ep Epilogue) {
	kern := *pm.bf16
	mr := kern.MR
	kpairs := (pm.K + 1) / 2
	block := pm.block
	// round writes columns [k0, k0+k) of A's rows as pairs into dst (row stride stride).
	round := func(dst []uint32, stride, k0, k int) {
		p.ForGrain(m, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				kernels.ToBF16Pairs(dst[i*stride:i*stride+(k+1)/2], a[i*lda+k0:i*lda+k0+k])
			}
		})
	}
	if m <= mr {
		stride := unaliased(kpairs + 16)
		apack := make([]uint32, m*stride)
		round(apack, stride, 0, pm.K)
		pm.matMulPairs(p, c, ldc, apack, stride, m, ep)
		return
	}
	stride := pairStride(block)
	mc := m
	if kern.Tiles {
		mc = max(mr, pm.rowBytes/(4*stride)/mr*mr)
	}
	apack := make([]uint32, m*stride)
	for kp0 := 0; kp0 < kpairs; kp0 += block {
		kp := min(block, kpairs-kp0)
		round(apack, stride, 2*kp0, min(2*kp, pm.K-2*kp0))
		pm.tiles(p, c, ldc, m, mr, mc, kern.NR, ep, []pass{pm.pairsPass(kp0, kp, apack, stride)})
	}
}

// matMulPairs is MatMul for bfloat16-packed B over A already rounded to pairs: row i's pair q
// (columns 2q and 2q+1 of A) at ap[i*lda+q], for every pair of K. Every pass runs in one call
// of the pool, all rows at a time: for a few rows (a decode step's, a block of attention's
// queries), where A's pairs stay in cache anyway.
func (pm *Packed) matMulPairs(p *Pool, c []float32, ldc int, ap []uint32, lda int, m int, ep Epilogue) {
	kpairs := (pm.K + 1) / 2
	if len(ap) < (m-1)*lda+kpairs {
		panic(fmt.Sprintf("tensor: matmul %dx%dx%d with %d words of pairs (lda %d)", m, pm.K, pm.N, len(ap), lda))
	}
	pm.tiles(p, c, ldc, m, pm.bf16.MR, m, pm.bf16.NR, ep, passesOver(kpairs, pm.block, func(kp0, kp int) pass { return pm.pairsPass(kp0, kp, ap[kp0:], lda) }))
}

// pairsPass is the pass over pairs [kp0, kp0+kp) of K, reading A's pairs from ap (row stride
// lda).
func (pm *Packed) pairsPass(kp0, kp int, ap []uint32, lda int) pass {
	kern, nr := pm.bf16, pm.bf16.NR
	bBlock := pm.words[kp0*panels(pm.N, nr)*nr:]
	return pass{k0: 2 * kp0, k: min(2*kp, pm.K-2*kp0), tileStores: kern.Tiles, tile: func(rows, i0, j int, dst []float32, ldd int, acc bool) {
		kern.Micro(rows, kp, ap[i0*lda:], lda, bBlock[j*kp*nr:(j+1)*kp*nr], dst, ldd, acc)
	}}
}

func (pr Precision) String() string {
	switch pr {
	case Float32:
		return "float32"
	case BFloat16:
		return "bfloat16"
	case BFloat16x3:
		return "bfloat16x3"
	}
	return fmt.Sprintf("Precision(%d)", int(pr))
}

// ParsePrecision reads a precision's name (its String).
func ParsePrecision(name string) (Precision, error) {
	for _, pr := range []Precision{Float32, BFloat16, BFloat16x3} {
		if pr.String() == name {
			return pr, nil
		}
	}
	return 0, fmt.Errorf("precision %q: want float32, bfloat16 or bfloat16x3", name)
}

// Kernel names the kernels Linear.Prepare chooses for this precision on this CPU: for
// BFloat16x3, the bfloat16 kernel with an "x3" suffix (tall products; short ones run the
// float32 kernel); for both bfloat16 precisions, the float32 kernel's name where the CPU has
// no bfloat16 instructions, or where they are slower than float32 (with the reason: "avx512
// (amx refused: …)"), and for BFloat16 there, where it stores bfloat16 weights for the
// float32 kernel (see packHalf), that kernel's name with " (bfloat16 weights)" (or
// " (bfloat16 weights; amx refused: …)").
func (pr Precision) Kernel() string {
	switch bf, ok := pr.pairKernel(); {
	case pr.halfWeights():
		if bf.Note != "" {
			return kernels.Best().Name + " (bfloat16 weights; " + bf.Note + ")"
		}
		return kernels.Best().Name + " (bfloat16 weights)"
	case ok && pr == BFloat16x3:
		return bf.Name + "x3"
	case ok:
		return bf.Name
	case pr.pairs() && bf.Note != "":
		return kernels.Best().Name + " (" + bf.Note + ")"
	}
	return kernels.Best().Name
}

// pairKernel is the bfloat16 kernel the precision's products run on, and false where they run
// the float32 kernels instead: Float32, and both bfloat16 precisions on a CPU whose best
// bfloat16 kernel is the pure-Go one (no bfloat16 instructions, or slower ones: see
// kernels.BestBF16).
func (pr Precision) pairKernel() (kernels.BF16, bool) {
	bf := kernels.BestBF16()
	return bf, pr.pairs() && !bf.Emulated
}

// pairs reports whether the precision multiplies bfloat16 pairs (BFloat16, BFloat16x3).
func (pr Precision) pairs() bool { return pr == BFloat16 || pr == BFloat16x3 }

// PeakFMA runs n iterations of a register-only loop of independent float32 fused
// multiply-adds on the widest vectors this CPU has and returns the floating-point operations
// done: timed, one core's FMA peak, which the kernels' speeds are fractions of.
func PeakFMA(n int) int64 { return kernels.PeakFMA(n) }

// PeakAMX runs n steps of a register-only loop of four independent TDPBF16PS (65,536
// floating-point operations a step) where BFloat16 products run on AMX tiles, and returns the
// operations done (0 elsewhere, doing nothing): timed, one core's AMX peak.
func PeakAMX(n int) int64 { return kernels.PeakAMX(n) }

// readBlock is how many values ReadPeak hands the vector kernel at a time (256 KiB).
const readBlock = 1 << 16

// ReadPeak reads x once, split into one contiguous range per worker of p, each range in blocks
// of 256 KiB through the vector kernel of softmax's max (which prefetches as far ahead as the
// decode kernels do: one core of the device machine's Xeon streams twice as fast with it),
// and returns the bytes read (4·len(x)) and the largest value of x (which shows that every
// value was read). Timed over a slice far larger than the last-level cache, it is the memory
// bandwidth those workers get streaming, which decode steps, bound by reading the weights,
// are fractions of. An empty x gives 0, 0.
func ReadPeak(p *Pool, x []float32) (bytes int64, largest float32) {
	if len(x) == 0 {
		return 0, 0
	}
	largest = x[0]
	var mu sync.Mutex
	p.For(len(x), func(lo, hi int) {
		m := x[lo]
		for ; lo < hi; lo += readBlock {
			m = max(m, kernels.Max(x[lo:min(lo+readBlock, hi)]))
		}
		mu.Lock()
		largest = max(largest, m)
		mu.Unlock()
	})
	return 4 * int64(len(x)), largest
}
