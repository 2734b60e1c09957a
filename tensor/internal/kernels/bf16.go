package kernels

import "math"

// The opt-in bfloat16 path: A and B rounded to bfloat16 and multiplied in pairs, accumulated in
// float32 (AVX512-BF16's VDPBF16PS). Twice the fp32 rate where the CPU has it, at bfloat16's
// 8-bit precision: callers must measure what it does to their results.

// MicroBF16 computes an mr×NR float32 tile of C from mr rows of A and a panel of B, both
// bfloat16 pairs (see ToBF16Pairs):
//
//	for r := range mr { for j := range NR {
//	    s := float32(0)
//	    for p := range kp { s += hi(a[r*lda+p])·hi(b[p*NR+j]); s += lo(a[r*lda+p])·lo(b[p*NR+j]) }
//	    c[r*ldc+j] = s, or c[r*ldc+j] + s when accumulate is set } }
//
// each product exact and each sum rounded to float32 (VDPBF16PS's order: the odd element of a
// pair first, then the sum added to C). That is what the pure-Go twin computes and what the
// AVX512-BF16 kernels compute bit for bit on normal values (the hardware flushes subnormals;
// checked on Zen 5). AMX's TDPBF16PS sums in another order, which its own twin computes (see
// genericAMX).
type MicroBF16 func(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool)

// BF16 is a bfloat16 kernel family.
type BF16 struct {
	Name   string
	MR, NR int
	Micro  MicroBF16
	// Emulated is set for the pure-Go kernel, which no hardware speeds up.
	Emulated bool
	// Note, on the kernel BestBF16 returns, says why products run something else than the
	// fastest bfloat16 kernel listed ("amx refused: …"), or is empty.
	Note string
	// Tiles is set for the AMX kernels: their calls should span deep blocks of k (the tile of
	// C stays in tile registers meanwhile), where the vector kernels' calls span blocks whose
	// panel stays in L1.
	Tiles bool
}

// BestBF16 is the bfloat16 kernel products use: AMX where the CPU has it and the OS grants the
// tiles, else AVX512-BF16 assembly (where the OS refuses the tiles of a CPU that has them, the
// pure-Go twin with a Note: see detectBF16), else the pure-Go twin. The precisions treat an
// Emulated best kernel as "no bfloat16 here" and run float32.
func BestBF16() BF16 { return bestBF16 }

// RowsBF16 is the bfloat16 kernel for products of a few rows over B packed for them alone: a
// decode step's cross-attention to the image's keys and values, packed once per image (see
// tensor's PackKV). That is BestBF16, except where BestBF16 is an AMX family: every AMX call
// loads its tile configuration and releases the tiles, which for one query over 577 keys
// costs more than the products, so there it is the AVX512-BF16 kernel (see rowsBF16).
func RowsBF16() BF16 { return rowsBF16(bestBF16, availableBF16) }

// rowsBF16 is RowsBF16 given the best kernel and the list: best unless it is a tile kernel, then
// the first of list that is neither tiles nor emulated (best again if none is). Measured on
// this project's AMX Xeon (twenty-first session, 2 cores): a decode step's cross-attention
// over 12 layers' 577 keys (BenchmarkCrossAttention) 0.80-0.90 ms on avx512-bf16 against
// 1.46-1.49 on amx-bf16-col (float32 1.28-1.38), and whole bfloat16 decode steps 12.8-14.0 ms
// against 14.7-16.0 in four alternating rounds of bench.
func rowsBF16(best BF16, list []BF16) BF16 {
	if !best.Tiles {
		return best
	}
	for _, k := range list {
		if !k.Tiles && !k.Emulated {
			return k
		}
	}
	return best
}

// AvailableBF16 lists every bfloat16 kernel this CPU runs, fastest first (on AMX CPUs the
// chosen AMX family, amx-bf16-col, then amx-bf16 and amx-bf16-cols, for tests and benchmarks:
// see amxColumns); the last is pure Go.
func AvailableBF16() []BF16 { return availableBF16 }

// GenericBF16 is the pure-Go bfloat16 kernel.
func GenericBF16(mr, nr int) BF16 {
	return BF16{Name: "go-bf16", MR: mr, NR: nr, Emulated: true, Micro: func(rows, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
		genericBF16(nr, rows, kp, a, lda, b, c, ldc, accumulate)
	}}
}

func genericBF16(nr, mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
	sum := make([]float32, nr)
	for r := 0; r < mr; r++ {
		clear(sum)
		for p := 0; p < kp; p++ {
			alo, ahi := lo(a[r*lda+p]), hi(a[r*lda+p])
			for j := range sum {
				bw := b[p*nr+j]
				sum[j] += ahi * hi(bw)
				sum[j] += alo * lo(bw)
			}
		}
		row := c[r*ldc : r*ldc+nr]
		for j, s := range sum {
			if accumulate {
				s += row[j]
			}
			row[j] = s
		}
	}
}

// amxStep is the pairs of k one TDPBF16PS takes: a tile row of A is 64 bytes.
const amxStep = 16

// genericAMX is the AMX kernels' twin: the tile of C as TDPBF16PS computes it, bit for bit on
// normal values. For each step of amxStep pairs of k (and a shorter last one), the products of
// the even (low) elements are summed from zero in order of k, those of the odd (high) elements
// likewise, and their sum is added to C (to zero for the first step when accumulate is unset):
//
//	c += (Σ lo(a)·lo(b)) + (Σ hi(a)·hi(b))   for each step, each sum a float32 chain
//
// This is the order of the SDM's pseudo-code for TDPBF16PS (its FMAs with DAZ and FTZ, which
// the twin leaves out: normal values only); the intrinsics guide's, one chain into C pair by
// pair, matched 34% of tile elements on the device machine's Xeon, this one all of them
// (BenchmarkAMXRounding); and BFloat16x3 products on it reproduced that machine's full-size
// vision encoder to the digit, before and after its passes were summed apart from C (1.41e-5
// and 4.05e-6 from the float64 reference).
func genericAMX(nr, mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
	for r := 0; r < mr; r++ {
		row := c[r*ldc : r*ldc+nr]
		if !accumulate {
			clear(row)
		}
		for p0 := 0; p0 < kp; p0 += amxStep {
			aw := a[r*lda+p0 : r*lda+min(p0+amxStep, kp)]
			for j := range row {
				row[j] += amxStepSum(aw, b[p0*nr+j:], nr)
			}
		}
	}
}

// amxStepSum is what one TDPBF16PS adds to an element of C: over the pairs aw of a row of A
// and a column of B's pairs (b[0], b[stride], ...), the sum of the even (low) elements'
// products in order of k plus the sum of the odd (high) ones' (see genericAMX).
func amxStepSum(aw, b []uint32, stride int) float32 {
	var even, odd float32
	for p, w := range aw {
		bw := b[p*stride]
		even += lo(w) * lo(bw)
		odd += hi(w) * hi(bw)
	}
	return even + odd
}

// GenericAMX is the AMX kernels' pure-Go twin as a kernel family (see genericAMX), for tests
// off AMX hardware: what a product computes on AMX, at pure-Go speed. No CPU is given it.
func GenericAMX(mr, nr int) BF16 {
	return BF16{Name: "go-amx", MR: mr, NR: nr, Emulated: true, Tiles: true, Micro: func(rows, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
		genericAMX(nr, rows, kp, a, lda, b, c, ldc, accumulate)
	}}
}

func lo(w uint32) float32 { return math.Float32frombits(w << 16) }
func hi(w uint32) float32 { return math.Float32frombits(w &^ 0xffff) }

// ToBF16 rounds a float32 to bfloat16 bits, to nearest even (NaN stays NaN).
func ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16 widens bfloat16 values to float32, exactly: dst[i] is the float32 whose high half
// is src[i] and whose low half is zero (dst at least as long as src).
func FromBF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	n := widenPrefix(len(src))
	if n > 0 {
		widenVec(dst[:n], src[:n])
	}
	for i := n; i < len(src); i++ {
		dst[i] = math.Float32frombits(uint32(src[i]) << 16)
	}
}

// FastFromBF16 reports whether FromBF16 runs vector instructions on this CPU (AVX2, AVX-512 or
// NEON): fast enough to widen bfloat16 weights as products read them (tensor's BFloat16
// on CPUs without bfloat16 products), where the scalar loop would take longer than reading
// float32 ones.
func FastFromBF16() bool { return widenPrefix(16) > 0 }

// ToBF16Pairs packs x (even length, or padded with a zero) into words of two bfloat16:
// dst[p] = bf16(x[2p]) | bf16(x[2p+1])<<16. (The vector path rounds NaN payloads as numbers.)
func ToBF16Pairs(dst []uint32, x []float32) {
	// The vector kernel takes whole pairs of x: all but the last word where x is odd (the
	// scores of an odd number of positions), which the loop below pads.
	n := pairsPrefix(min(len(dst), len(x)/2))
	if n > 0 {
		pairsVec(dst[:n], x[:2*n])
	}
	for p := n; p < len(dst); p++ {
		var l, h float32
		if 2*p < len(x) {
			l = x[2*p]
		}
		if 2*p+1 < len(x) {
			h = x[2*p+1]
		}
		dst[p] = uint32(ToBF16(l)) | uint32(ToBF16(h))<<16
	}
}
