//go:build amd64 && !noasm

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// AMX-BF16 (Sapphire Rapids and later): TDPBF16PS multiplies 16x32 bfloat16 tiles of A by
// 32x16 tiles of B into 16x16 float32 tiles of C. The kernels take the same operands as the
// AVX512-BF16 ones (A rows of pairs, B panels of kp rows of 32 pairs: each B panel is already
// the tiles' layout), so weights packed for one serve the other.

// tileConfig is LDTILECFG's 64-byte operand: palette 1, then each tile's bytes per row and
// rows. Tiles 0-3 are C, 4-5 A, 6-7 B (see gen/amx.go).
type tileConfig [64]byte

// set configures the tiles for an mr-row tile of C and steps of pairs pairs of k.
func (t *tileConfig) set(mr, pairs int) {
	*t = tileConfig{0: 1}
	tile := func(i, rows, bytesPerRow int) {
		t[16+2*i], t[16+2*i+1] = byte(bytesPerRow), byte(bytesPerRow>>8)
		t[48+i] = byte(rows)
	}
	top := min(mr, 16)
	tile(0, top, 64)
	tile(1, top, 64)
	tile(4, top, 4*pairs)
	if bottom := mr - top; bottom > 0 {
		tile(2, bottom, 64)
		tile(3, bottom, 64)
		tile(5, bottom, 4*pairs)
	}
	tile(6, pairs, 64)
	tile(7, pairs, 64)
}

// tileConfigs are the configurations of every tile height and step depth, [mr-1][pairs-1],
// built once per kernel family. A configuration built per call was a heap allocation per call
// (its address goes to the assembly through a function value, so it escapes): 3.4% of a
// bfloat16 577x1024x4096 product on one core of an Intel Xeon with AMX (pprof), and garbage
// for the collector at every decode step.
type tileConfigs [approx.AMXMR][amxStepPairs]tileConfig

// amxStepPairs is the depth of one step of the AMX kernels, in pairs of k: a 16x32 bfloat16
// tile of A, 64 bytes a row, the most a tile row holds.
const amxStepPairs = 16

func newTileConfigs() *tileConfigs {
	var t tileConfigs
	for mr := range t {
		for pairs := range t[mr] {
			t[mr][pairs].set(mr+1, pairs+1)
		}
	}
	return &t
}

// How far ahead of their loads, in bytes of B, the AMX kernels prefetch, measured on the
// device machine's Xeon (one core; two runs, its memory twice as fast in the second).
//
// amxRowPrefetch, for tiles of up to 16 rows (decode steps: one row of A against weights
// streamed from memory once): BenchmarkPrefetch gave 9.3, 11.6, 11.0, 12.5, 13.3 and 10.7
// GB/s at 0 (what each step loads), 1, 2, 4, 8 and 16 KiB in the first run, 23.0, 23.9, 22.3,
// 22.4, 21.4 and 22.9 (flat) in the second.
//
// amxTallPrefetch, for the two-row kernel of tall products (A and B from L2, A prefetched as
// many steps on as B): BenchmarkMicroBF16Residency in MatMul's order gave 827, 806, 743, 457,
// 658 and 385 GFLOP/s at those distances, against 350-454 without prefetching in the first
// run; with both operands cycling through L2 510, 637, 638, 615, 447 and 308 (242-400). Far
// distances cost even on data in L1 (970-1020 up to 4 KiB, 500 at 8 and 16), so one step of
// 16 pairs ahead: 2 KiB of B and a line of each row of A.
const (
	amxRowPrefetch  = 8192
	amxTallPrefetch = 2048
)

// amxMicro is the AMX family's MicroBF16: steps of 16 pairs of k, then one shorter step for
// the rest, each assembly call loading its tile configuration and releasing the tiles. It
// serves every height of tile: measured on the device machine's Xeon, one to eight rows of AMX
// take less time than one row of VDPBF16PS (333 ns for 4 rows against 414 for 1, 128 pairs).
// Tiles of up to 16 rows prefetch B rowAhead bytes further on than they load; taller ones
// B tallAhead bytes on, and A as many steps on. calls are the assembly kernels it calls
// (amxAssembly, or their trace twins in tests).
func amxMicro(calls amxCalls, rowAhead, tallAhead int) MicroBF16 {
	return amxMicroOn(newTileConfigs(), calls, rowAhead, tallAhead)
}

// amxMicroOn is amxMicro with the configurations cfgs (shared with a column family's calls).
func amxMicroOn(cfgs *tileConfigs, calls amxCalls, rowAhead, tallAhead int) MicroBF16 {
	const mrMax, nr = approx.AMXMR, approx.AMXNR
	return func(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
		if mr < 1 || mr > mrMax || kp < 1 || len(a) < (mr-1)*lda+kp || len(b) < kp*nr || len(c) < (mr-1)*ldc+nr {
			panic("kernels: amx micro-kernel called out of bounds")
		}
		call, ahead := calls.rows1, rowAhead
		if mr > 16 {
			call, ahead = calls.rows2, tallAhead
		}
		amxSteps(cfgs, call, mr, kp, a, lda, b, c, ldc, accumulate, ahead, nextRows(mr, mrMax, nr, c, ldc), 1, 0)
	}
}

// amxCall is the assembly AMX kernels' signature: groups is the column kernels', slice the
// sliced one's (amxBF16cols); the others ignore them.
type amxCall func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups, slice int)

// amxCalls are the AMX kernels a family calls: one row of 16x16 tiles, two, and the column
// kernels (two rows of tiles, groups times down; sliced: see gen/amx.go).
type amxCalls struct{ rows1, rows2, col, cols amxCall }

// amxAssembly is amxCalls of the assembly kernels.
func amxAssembly() amxCalls {
	return amxCalls{
		rows1: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, _, _ int) {
			amxBF16x1(cfg, steps, a, lda, b, c, ldc, accumulate, ahead, next)
		},
		rows2: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, _, _ int) {
			amxBF16x2(cfg, steps, a, lda, b, c, ldc, accumulate, ahead, next)
		},
		col: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups, _ int) {
			amxBF16col(cfg, steps, a, lda, b, c, ldc, accumulate, ahead, next, groups)
		},
		cols: amxBF16cols,
	}
}

// amxSteps runs call over kp pairs of k of a tile of mr rows (for the column kernels, of each
// of groups groups of 32, in slices of slice steps for amxBF16cols): steps of 16 pairs in one
// call, then one shorter step for the rest in another, each loading its tile configuration.
// The first call prefetches next rows of C (see the kernels). cfgs are the configurations.
func amxSteps(cfgs *tileConfigs, call amxCall, mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool, ahead, next, groups, slice int) {
	full := kp - kp%amxStepPairs
	if full > 0 {
		call(&cfgs[mr-1][amxStepPairs-1][0], full/amxStepPairs, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, accumulate, ahead, next, groups, slice)
		accumulate, next = true, 0
	}
	if rest := kp - full; rest > 0 {
		call(&cfgs[mr-1][rest-1][0], 1, &a[full], lda, &b[full*approx.AMXNR], unsafe.SliceData(c), ldc, accumulate, ahead, next, groups, slice)
	}
}

// amxColumnGroups is how many 32-row tiles of C the column families take a call: 224 rows,
// the blocks of rows of A that MatMul keeps in L2 for passes of 512 pairs (tensor's
// amxRowBytes). amxColumnSlice is the sliced family's slice: 8 steps, 128 pairs, 16 KiB of a
// panel of B, which stays in L1 for the groups after the first.
const (
	amxColumnGroups = 7
	amxColumnSlice  = 8
)

// amxColumns is the AMX family with tiles of up to 32·groups rows, whose whole 32-row groups
// go through one call (configured once, the tiles released once) where amxMicro makes a call
// for each: of amxBF16col, each group through all the call's steps in turn, B's panel read
// again for each (amx-bf16-col), or with slice > 0 of amxBF16cols, every group through a
// slice of that many steps before the next slice, so that the slice's part of B is read from
// L1 by all groups after the first (amx-bf16-cols). Both are listed by AvailableBF16 on AMX
// CPUs beside amx-bf16 (amxFamily); amx-bf16-col is the one chosen (amxChosen): whole
// bfloat16 vision encoders ran 7-8% faster on it than on amx-bf16 on this project's AMX Xeon
// (twentieth session), where the device machine's run (thirteenth) had put the three within
// its host's spread. An AMX call inside MatMul cost about 1 µs besides its products there
// (ninth session). Each row of C goes through the steps amxMicro gives it, so the results are
// the same bits. A last group of up to 31 rows, and tiles of up to 32 rows, go to amxMicro.
// Its tiles of 224 rows also move BFloat16x3's products of 33 to 224 rows (a question's or
// prompt's tokens) onto the float32 kernel (tensor's MatMul splits only products taller than
// a tile): the same accuracy class, and the full-size and golden checks unchanged.
func amxColumns(calls amxCalls, groups, slice, rowAhead, tallAhead int) BF16 {
	const tall, nr = approx.AMXMR, approx.AMXNR
	if groups < 1 || slice < 0 {
		panic("kernels: amx column family of no groups or a negative slice")
	}
	mrMax := groups * tall
	cfgs := newTileConfigs()
	short := amxMicroOn(cfgs, calls, rowAhead, tallAhead)
	name, call := "amx-bf16-col", calls.col
	if slice > 0 {
		name, call = "amx-bf16-cols", calls.cols
	}
	return BF16{Name: name, MR: mrMax, NR: nr, Tiles: true, Micro: func(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
		if mr < 1 || mr > mrMax || kp < 1 || len(a) < (mr-1)*lda+kp || len(b) < kp*nr || len(c) < (mr-1)*ldc+nr {
			panic("kernels: amx column kernel called out of bounds")
		}
		if mr <= tall {
			short(mr, kp, a, lda, b, c, ldc, accumulate)
			return
		}
		g := mr / tall
		rows := g * tall
		// The rows the kernel prefetches, one a step from the second group's first: the other
		// groups', then those below the last group.
		next := rows - tall + nextRows(tall, tall, nr, c[(rows-tall)*ldc:], ldc)
		amxSteps(cfgs, call, tall, kp, a, lda, b, c, ldc, accumulate, tallAhead, next, g, slice)
		if mr > rows {
			short(mr-rows, kp, a[rows*lda:], lda, b, c[rows*ldc:], ldc, accumulate)
		}
	}}
}

// amxPeakFLOP is what one step of amxPeakBF16 computes: four products of 16x16 tiles over 16
// pairs of k.
const amxPeakFLOP = 4 * 2 * 16 * 16 * 32

func peakAMX(n int) int64 {
	if bf := BestBF16(); !bf.Tiles || bf.Emulated || n < 1 {
		return 0
	}
	var cfg tileConfig
	cfg.set(32, 16)
	// Two tiles each of A and B, 1/1024 in every bfloat16: C grows by 2^-15 a step, far from
	// overflowing in any run.
	a, b := make([]uint32, 512), make([]uint32, 512)
	v := uint32(ToBF16(1.0 / 1024))
	for i := range a {
		a[i], b[i] = v|v<<16, v|v<<16
	}
	amxPeakBF16(&cfg[0], &a[0], &b[0], n)
	return int64(n) * amxPeakFLOP
}

// XCR0 bits of the tile state: configuration (17) and data (18).
const xcr0Tiles = 1<<17 | 1<<18

// detectAMX returns the AMX kernel family, or why this process cannot use it ("" when the CPU
// has no AMX-BF16 at all).
func detectAMX() (BF16, string) {
	if !cpu.X86.HasAMXTile || !cpu.X86.HasAMXBF16 || !cpu.X86.HasAVX512F {
		return BF16{}, ""
	}
	if eax, _ := xgetbv0(); eax&xcr0Tiles != xcr0Tiles {
		return BF16{}, "tile state not enabled by the OS"
	}
	if err := requestTilePermission(); err != nil {
		return BF16{}, err.Error()
	}
	return amxFamily(amxRowPrefetch, amxTallPrefetch), ""
}

// amxFamily is the AMX kernel family prefetching as amxMicro describes.
func amxFamily(rowAhead, tallAhead int) BF16 {
	return BF16{Name: "amx-bf16", MR: approx.AMXMR, NR: approx.AMXNR, Micro: amxMicro(amxAssembly(), rowAhead, tallAhead), Tiles: true}
}
