package kernels

import "math"

// Float32 products from bfloat16 hardware (the "bfloat16x3" precision): every float32 x is
// split into three bfloat16 parts, x = hi + mid + lo, each the bfloat16 rounding of what the
// parts before it leave (the remainders are exact in float32), and a product a·b is summed
// from the six partial products that carry float32's precision:
//
//	hi·hi + (hi·mid + mid·hi + hi·lo + mid·mid + lo·hi)
//
// (the dropped mid·lo, lo·mid and lo·lo are below float32's rounding). Each bfloat16 product
// is exact in float32, so any bfloat16-pair kernel (MicroBF16: VDPBF16PS, AMX's TDPBF16PS, the
// pure-Go twin) computes the sums. They are two products, accumulated apart: the main one,
// hi·hi, and the corrections, 2^8 times smaller. Summed into one accumulator, the corrections'
// additions would each round at the main sum's scale and triple float32's error; apart, they
// round at their own scale, and the whole product is as accurate as a float32 one. For a
// block of kc values of k the words are (lo half, hi half):
//
//	section      words      A                      B                      adds
//	main         ⌈kc/2⌉     (hi[k], hi[k+1])       (hi[k], hi[k+1])       hi·hi, two k at a time
//	corrections  ⌈kc/2⌉     (mid[k], mid[k+1])     (mid[k], mid[k+1])     mid·mid, two k at a time
//	             kc         (hi, mid)              (mid, hi)              hi·mid + mid·hi
//	             kc         (hi, lo)               (lo, hi)               hi·lo + lo·hi
//
// An emulation on the full-size BLIP-large hash model put this split within 2.2e-6 of the
// float64 reference on the vision output, against 2.9e-6 for float32 products.

// SplitMain is the number of words of the main product of a block of kc values.
func SplitMain(kc int) int { return (kc + 1) / 2 }

// SplitLen is the number of words, main and corrections, of a block of kc values.
func SplitLen(kc int) int { return 2*SplitMain(kc) + 2*kc }

// Split3 returns the bfloat16 parts of x: x = hi + mid + lo up to float32's last bits.
func Split3(x float32) (hi, mid, lo uint16) {
	hi = ToBF16(x)
	r := x - bf16Value(hi)
	mid = ToBF16(r)
	lo = ToBF16(r - bf16Value(mid))
	return hi, mid, lo
}

func bf16Value(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func pair(l, h uint16) uint32 { return uint32(l) | uint32(h)<<16 }

// splitPanel writes the SplitLen(kc) rows of nr words of a k-major panel of kc rows of nr
// values; swapped selects B's halves instead of A's. A row of A is a panel of one column. It is
// the pure-Go twin of the vector split kernels: splitRows(…, from) writes what they leave,
// the rows from an even from on.
func splitPanel(dst []uint32, panel []float32, kc, nr int, swapped bool) {
	splitRows(dst, panel, kc, nr, swapped, 0)
}

func splitRows(dst []uint32, panel []float32, kc, nr int, swapped bool, from int) {
	panel, dst = panel[:kc*nr], dst[:SplitLen(kc)*nr]
	km := SplitMain(kc)
	clear(dst[from/2*nr : km*nr])
	clear(dst[(km+from/2)*nr : 2*km*nr])
	for q := from; q < kc; q++ {
		half := uint(16 * (q & 1)) // which half of the shared pair word
		main, mids := dst[(q/2)*nr:][:nr], dst[(km+q/2)*nr:][:nr]
		hm, hl := dst[(2*km+q)*nr:][:nr], dst[(2*km+kc+q)*nr:][:nr]
		for j, v := range panel[q*nr : (q+1)*nr] {
			hi, mid, lo := Split3(v)
			main[j] |= uint32(hi) << half
			mids[j] |= uint32(mid) << half
			if swapped {
				hm[j], hl[j] = pair(mid, hi), pair(lo, hi)
			} else {
				hm[j], hl[j] = pair(hi, mid), pair(hi, lo)
			}
		}
	}
}

// SplitA writes the A side of the split product for a row x of kc = len(x) values into
// dst[:SplitLen(kc)]: the main words, then the corrections. (The vector kernel rounds NaN
// payloads as numbers, as ToBF16Pairs's does.)
func SplitA(dst []uint32, x []float32) {
	kc := len(x)
	dst = dst[:SplitLen(kc)]
	splitRows(dst, x, kc, 1, false, splitAVec(dst, x))
}

// SplitB writes the B side of the split product for a packed float32 panel of kc rows of nr
// values (k-major, as the float32 kernels read it): dst holds SplitLen(kc) rows of nr words,
// the main rows first, laid out as MicroBF16 reads a panel.
func SplitB(dst []uint32, panel []float32, kc, nr int) {
	dst, panel = dst[:SplitLen(kc)*nr], panel[:kc*nr]
	splitRows(dst, panel, kc, nr, true, splitBVec(dst, panel, kc, nr))
}
