//go:build amd64 && !noasm

package kernels

import (
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

type bf16Kernel func(kp int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next int)

// prefetchAhead is how far ahead of their loads, in bytes, the AVX-512 kernels of up to eight
// rows (float32 and bfloat16) prefetch the weights they stream in decode steps. Measured on
// Zen 5 (BenchmarkPrefetch, one core streaming 64 MiB): 1, 2, 4, 8 and 16 KiB gave 43-44,
// 46, 51, 54-55 and 49-51 GB/s; a whole float32 decode step on 2 cores, four runs each, went
// from 12.6-13.2 to 12.0-13.1 ms with 8 KiB instead of 2 (bfloat16: the same within noise).
// On the device machine's Xeon (one run): 21.2, 25.9, 26.7, 27.8, 27.9 and 26.9 GB/s at 0, 1,
// 2, 4, 8 and 16 KiB for float32, so 8 KiB there too. The max kernels prefetch as far ahead
// (a constant in their code).
const prefetchAhead = approx.PrefetchAhead

// detectBF16 lists the bfloat16 kernels this CPU runs, fastest first: AMX where the CPU has it
// and the OS grants it, AVX512-BF16, the pure-Go twin last; and the one products should use.
// That is the first, except on a CPU whose OS refuses it the AMX tiles (Linux before 5.16,
// some sandboxes): that is an Intel CPU, whose VDPBF16PS is slower than its float32 FMA
// (measured on the device machine's Xeon: 61-78 against 87-146 GFLOP/s a core), so the
// bfloat16 precisions run the float32 kernels there, as where there are no bfloat16
// instructions at all, and the kernel's Note says why.
func detectBF16() (list []BF16, best BF16) {
	generic := GenericBF16(approx.GenericMR, approx.AVX2NR)
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512BF16 {
		return []BF16{generic}, generic
	}
	amx, why := detectAMX()
	var cols []BF16
	if amx.Micro != nil {
		// The column families: amx-bf16-col, the one chosen, and amx-bf16-cols (see amxColumns).
		cols = []BF16{
			amxColumns(amxAssembly(), amxColumnGroups, 0, amxRowPrefetch, amxTallPrefetch),
			amxColumns(amxAssembly(), amxColumnGroups, amxColumnSlice, amxRowPrefetch, amxTallPrefetch),
		}
	}
	return chooseBF16(amx, cols, vecBF16(prefetchAhead), generic, why, amxChosen)
}

// vecBF16 is the AVX512-BF16 family, its kernels of up to eight rows prefetching ahead bytes on.
func vecBF16(ahead int) BF16 {
	const mrMax, nr = approx.BF16MR, approx.BF16NR
	return BF16{Name: "avx512-bf16", MR: mrMax, NR: nr, Micro: func(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
		if mr < 1 || mr > mrMax || kp < 1 || len(a) < (mr-1)*lda+kp || len(b) < kp*nr || len(c) < (mr-1)*ldc+nr {
			panic("kernels: bf16 micro-kernel called out of bounds")
		}
		bf16Table[mr-1](kp, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate, ahead, nextRows(mr, mrMax, nr, c, ldc))
	}}
}

// chooseBF16 is detectBF16's choice on a CPU with AVX512-BF16, given the AMX family (Micro nil
// when absent or refused), the other AMX families listed after it (the column families), why
// the OS refused AMX ("" when it did not), and which of the AMX families a build chooses
// (amxChosen: 0 the AMX family, i the i-th other), listed first.
func chooseBF16(amx BF16, experiments []BF16, vec, generic BF16, why string, chosen int) (list []BF16, best BF16) {
	switch {
	case amx.Micro != nil:
		amxs := append([]BF16{amx}, experiments...)
		best = amxs[chosen]
		list = append([]BF16{best}, slices.Delete(amxs, chosen, chosen+1)...)
		return append(list, vec, generic), best
	case why != "":
		refused := generic
		refused.Note = "amx refused: " + why
		return []BF16{vec, generic}, refused
	}
	return []BF16{vec, generic}, vec
}

func detect() []Kernel {
	var ks []Kernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasFMA {
		n32 := avx512Family(prefetchAhead)
		n48 := Kernel{Name: "avx512n48", MR: approx.N48MR, NR: approx.N48NR, Micro: wrap(avx512n48Table, approx.N48MR, approx.N48NR, prefetchAhead),
			MicroHalf: wrapHalf(avx512n48hTable, approx.N48MR, approx.N48NR, prefetchAhead)}
		n64 := Kernel{Name: "avx512n64", MR: approx.N64MR, NR: approx.N64NR, Micro: wrap(avx512n64Table, approx.N64MR, approx.N64NR, prefetchAhead),
			MicroHalf: wrapHalf(avx512n64hTable, approx.N64MR, approx.N64NR, prefetchAhead)}
		// 14x32 first, except where widePanelsFirst. On the device machine's Xeon the three
		// families' micro-kernels ran at 67-92% of the FMA peak of the same run in earlier
		// runs and at 95-98% in the fifth session's (the shared host varied more than they
		// differ); inside MatMul, timed in alternation four rounds over (run.sh families),
		// 14x32 gave 206-273 GFLOP/s on 2 cores, 8x48 244-280, 6x64 191-284: level. On Zen 5
		// all three reach 93-99%. The others stay listed for BenchmarkMicro and
		// BenchmarkMatMulKernels to compare; every family sums in the same order, so a choice
		// between them never changes a result.
		families := []Kernel{n32, n48, n64}
		if widePanelsFirst() {
			families = []Kernel{n64, n32, n48}
		}
		ks = append(ks, families...)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, Kernel{Name: "avx2", MR: approx.AVX2MR, NR: approx.AVX2NR, Micro: wrap(avx2Table, approx.AVX2MR, approx.AVX2NR, 0),
			MicroHalf: wrapHalf(avx2hTable, approx.AVX2MR, approx.AVX2NR, 0)})
	}
	inPlace := inPlaceEverywhere || readsAliasedRows()
	for i := range ks {
		ks[i].InPlaceA = inPlace
	}
	return append(ks, Generic(approx.GenericMR, approx.AVX2NR))
}

// readsAliasedRows reports whether the vector kernels should read a tall A in place when its
// rows alias L1 sets (Kernel.InPlaceA): on AMD's Zen 5 (family 1Ah) and later. A's rows are
// 4 or 16 KiB apart at every product of the vision encoder (hidden sizes 1024 and 4096), so
// a 14-row tile's rows share one L1 set; MatMul copied each pass's rows apart first, since
// the first kernels ran at half speed without it on Zen 4. On 2 cores of the Zen 5 the copy
// no longer pays: BenchmarkMatMulKernels (three alternating rounds, FMA peak 268-281 GFLOP/s)
// gave the 14x32 kernels 448-450 GFLOP/s copied and 419-459 in place at 577x1024x4096, 379-418
// and 402-450 at 577x4096x1024 (16 passes over K, each a copy and a fork and join of its own
// when copied); the 8x48 and 6x64 families level to 15% ahead in place, AVX2 level; and the
// float32 vision encoder (bench, three sets of four alternating rounds) ran 0.88-0.97 s in
// place against 0.89-1.06 copied, faster by the medians of eleven rounds of twelve, 3-9%. The
// L2 hits of the shared set hide behind a tile's 28 FMAs a step; the copy's pass over A does
// not. Elsewhere A is still copied: Zen 4 (an 8-way L1) was last measured with the first
// kernels, the Intel CPUs not at all; on the device machine's Xeon run.sh times both ways
// (the families section's kernel rows, the model section's whole runs of an inplacea build):
// in the thirteenth session's two runs the whole float32 runs read in place lost three
// alternating rounds of four (vision 2.81-3.20 s against 2.48-2.58 copied in the first run;
// 2.86-3.78 against 2.46-3.98 in the second, the host drifting), and on a Cascade Lake Xeon
// every family ran faster copied (BenchmarkMatMulKernels, two rounds), so Intel copies.
func readsAliasedRows() bool {
	vendor, family := vendorFamily()
	return vendor == "AuthenticAMD" && family >= 0x1a
}

// widePanelsFirst reports whether the 6x64 family goes first: on Intel CPUs whose L1 data
// cache is 32 KiB (Skylake-SP, Cascade Lake, Cooper Lake), where a 14x32 call's operands
// (a 32 KiB panel of B, 14 KiB of A) cannot both stay in L1 and 6x64's (6 KiB of A beside a
// 64 KiB panel streamed from L2) do better. On 2 cores of a Cascade Lake Xeon (family 6 model
// 85 stepping 7, FMA peak 134-151 GFLOP/s a core) whole float32 runs of the two, alternating,
// gave the vision encoder 1-9% faster with 6x64 in every one of ten rounds (fastest reps,
// six rounds: 1.94-3.43 s against 2.02-3.75; round medians, four: 1.94-2.08 against 2.08-2.27)
// and the 19-token captions level to 6% faster (round medians 2.62-2.74 s against 2.73-2.83),
// decode steps level (27.4-28.2 ms). Elsewhere 14x32 stays first: the Xeons with AMX and Zen
// 5 have 48 KiB of L1 and ran the families level; Zen 4 (32 KiB) has not been measured with
// them.
func widePanelsFirst() bool {
	vendor, _ := vendorFamily()
	return vendor == "GenuineIntel" && l1DataBytes() == 32<<10
}

// vendorFamily is CPUID's vendor string and display family (the base family plus the
// extended family where the base is 0Fh).
func vendorFamily() (string, uint32) {
	_, b, c, d := cpuid(0, 0)
	var id [12]byte
	for i, w := range [3]uint32{b, d, c} {
		id[4*i], id[4*i+1], id[4*i+2], id[4*i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	}
	eax, _, _, _ := cpuid(1, 0)
	family := eax >> 8 & 0xf
	if family == 0xf {
		family += eax >> 20 & 0xff
	}
	return string(id[:]), family
}

// l1DataBytes is the size of the level-1 data cache from CPUID leaf 4 (Intel's deterministic
// cache parameters), 0 where that leaf does not describe one (AMD reserves it).
func l1DataBytes() int {
	if top, _, _, _ := cpuid(0, 0); top < 4 {
		return 0
	}
	for sub := uint32(0); sub < 32; sub++ {
		a, b, c, _ := cpuid(4, sub)
		switch kind, level := a&0x1f, a>>5&7; {
		case kind == 0:
			return 0
		case kind == 1 && level == 1: // data cache, level 1
			ways, partitions, line := b>>22+1, b>>12&0x3ff+1, b&0xfff+1
			return int(ways) * int(partitions) * int(line) * int(c+1)
		}
	}
	return 0
}

// avx512Family is the 14x32 AVX-512 float32 family, its kernels of up to eight rows
// prefetching ahead bytes on.
func avx512Family(ahead int) Kernel {
	return Kernel{Name: "avx512", MR: approx.AVX512MR, NR: approx.AVX512NR, Micro: wrap(avx512Table, approx.AVX512MR, approx.AVX512NR, ahead),
		MicroHalf: wrapHalf(avx512hTable, approx.AVX512MR, approx.AVX512NR, ahead)}
}

// Chosen once at start; read-only afterwards.
var (
	available               = detect()
	best                    = available[0]
	availableBF16, bestBF16 = detectBF16()
)

// hasAVX512 selects the AVX-512 kernels of the element-wise operations, the bfloat16
// conversions and the layer norm; hasAVX2 (with FMA), where there is no AVX-512, the AVX2
// element-wise kernels, which compute what the AVX-512 ones do bit for bit. Read-only after
// start.
var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// vectorPrefix is how many leading values the vector element-wise kernels take.
func vectorPrefix(n int) int {
	if !hasAVX512 && !hasAVX2 {
		return 0
	}
	return n &^ 15
}

func maxVec(x []float32) float32 {
	if hasAVX512 {
		return maxAVX512(unsafe.SliceData(x), len(x))
	}
	return maxAVX2(unsafe.SliceData(x), len(x))
}

func maxExponentVec(x []float32) uint32 {
	if hasAVX512 {
		return maxExponentAVX512(unsafe.SliceData(x), len(x))
	}
	return maxExponentAVX2(unsafe.SliceData(x), len(x))
}

func expSumVec(x []float32, scale, shift float32) float32 {
	if hasAVX512 {
		return expSumAVX512(unsafe.SliceData(x), len(x), scale, shift)
	}
	return expSumAVX2(unsafe.SliceData(x), len(x), scale, shift)
}

func scaleVec(x []float32, s float32) {
	if hasAVX512 {
		scaleAVX512(unsafe.SliceData(x), len(x), s)
		return
	}
	scaleAVX2(unsafe.SliceData(x), len(x), s)
}

// pairsPrefix is how many leading words the vector bfloat16 conversion takes.
func pairsPrefix(words int) int {
	if !hasAVX512 {
		return 0
	}
	return words &^ 7
}

func pairsVec(dst []uint32, x []float32) {
	bf16PairsAVX512(unsafe.SliceData(dst), unsafe.SliceData(x), len(dst))
}

// widenPrefix is how many leading values the vector bfloat16 widening takes (AVX2 or
// AVX-512).
func widenPrefix(n int) int { return vectorPrefix(n) }

func widenVec(dst []float32, src []uint16) {
	if hasAVX512 {
		widenAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), len(src))
		return
	}
	widenAVX2(unsafe.SliceData(dst), unsafe.SliceData(src), len(src))
}

func geluRowsVec(c []float32, ldc, rows, n int) {
	if hasAVX512 {
		geluRowsAVX512(unsafe.SliceData(c), ldc, rows, n)
		return
	}
	geluRowsAVX2(unsafe.SliceData(c), ldc, rows, n)
}

func addRowsVec(c []float32, ldc, rows int, v []float32) {
	if hasAVX512 {
		addRowsAVX512(unsafe.SliceData(c), ldc, rows, unsafe.SliceData(v), len(v))
		return
	}
	addRowsAVX2(unsafe.SliceData(c), ldc, rows, unsafe.SliceData(v), len(v))
}

// f64Vec reports whether the layer norm's float64 kernels run in assembly.
func f64Vec() bool { return hasAVX512 }

func sumF64Vec(x []float32) float64 { return sumF64AVX512(unsafe.SliceData(x), len(x)) }
func squaresF64Vec(x []float32, mean float64) float64 {
	return squaresF64AVX512(unsafe.SliceData(x), len(x), mean)
}
func normalizeVec(dst, x, g, b []float32, mean, rstd float64) {
	normalizeAVX512(unsafe.SliceData(dst), unsafe.SliceData(x), unsafe.SliceData(g), unsafe.SliceData(b), len(dst), mean, rstd)
}

func peakFMA(n int) int64 {
	switch {
	case cpu.X86.HasAVX512F:
		fmaPeakAVX512(n)
		return int64(n) * fmaPeakChains * approx.AVX512NR / 2 * 2 // 16 lanes, 2 FLOP each
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		fmaPeakAVX2(n)
		return int64(n) * fmaPeakChains * approx.AVX2NR / 2 * 2 // 8 lanes
	}
	return peakGo(n)
}

// splitAVec splits the longest prefix of x that is a multiple of 16 values (see SplitA) and
// returns its length.
func splitAVec(dst []uint32, x []float32) int {
	if !hasAVX512 {
		return 0
	}
	n := len(x) &^ 15
	if n > 0 {
		splitAAVX512(unsafe.SliceData(dst), unsafe.SliceData(x), n, len(x))
	}
	return n
}

// splitBVec splits the even rows of a panel of 32 columns (see SplitB) and returns how many.
func splitBVec(dst []uint32, panel []float32, kc, nr int) int {
	rows := kc &^ 1
	if !hasAVX512 || nr != 32 || rows == 0 {
		return 0
	}
	splitBAVX512(unsafe.SliceData(dst), unsafe.SliceData(panel), rows, kc)
	return rows
}
