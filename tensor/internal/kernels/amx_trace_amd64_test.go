//go:build amd64 && !noasm

package kernels

import (
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// The AMX kernels' logic, tested on any x86-64 CPU: their trace twins (gen/amx.go, amxRecord)
// run the kernels' own loops, pointers, strides and branches, recording each AMX instruction
// instead of executing it, and amxEmu replays the records on an emulation of the tiles over
// the buffers the family was given. Every tile load and store must fall inside A, B or C (the
// slices the MicroBF16 call was given), and the C left behind must be the pure-Go twin's, bit
// for bit, with nothing outside the tile written (runBF16's guards).

// Trace record layout (gen/amx.go): amxRecord bytes, the operation then three operands, and
// for a configuration its 64 bytes from the fifth word on.
const (
	amxRecordWords                        = 12
	opLoad, opStore, opDot, opZero, opCfg = 1, 2, 3, 4, 5
	opRelease                             = 6
)

// amxEmu is the tile state of one core and the memory a MicroBF16 call may touch.
type amxEmu struct {
	a, b       []uint32
	c          []float32
	configured bool
	cfg        tileConfig
	tiles      [8][16][16]uint32 // rows of 64 bytes: bfloat16 pairs or float32 bits
}

// word returns the 4 bytes at addr, which must lie inside A, B or C and be aligned.
func (e *amxEmu) word(addr uintptr) (*uint32, error) {
	in := func(base unsafe.Pointer, n int) (int, bool) {
		off := addr - uintptr(base)
		return int(off / 4), addr >= uintptr(base) && off < uintptr(4*n) && off%4 == 0
	}
	if i, ok := in(unsafe.Pointer(unsafe.SliceData(e.a)), len(e.a)); ok {
		return &e.a[i], nil
	}
	if i, ok := in(unsafe.Pointer(unsafe.SliceData(e.b)), len(e.b)); ok {
		return &e.b[i], nil
	}
	if i, ok := in(unsafe.Pointer(unsafe.SliceData(e.c)), len(e.c)); ok {
		return (*uint32)(unsafe.Pointer(&e.c[i])), nil
	}
	return nil, fmt.Errorf("address %#x outside A, B and C", addr)
}

func (e *amxEmu) shape(t int) (rows, words int) {
	return int(e.cfg[48+t]), int(binary.LittleEndian.Uint16(e.cfg[16+2*t:])) / 4
}

// replay runs the records of one call.
func (e *amxEmu) replay(trace []int64) error {
	for n := 0; ; n++ {
		r := trace[n*amxRecordWords:][:amxRecordWords]
		op, x, y, z := r[0], int(r[1]), r[2], r[3]
		if op == 0 {
			if e.configured {
				return fmt.Errorf("the call returned with its tiles configured")
			}
			return nil
		}
		if op != opCfg && !e.configured {
			return fmt.Errorf("record %d: operation %d on unconfigured tiles", n, op)
		}
		switch op {
		case opCfg:
			for i := range 8 {
				binary.LittleEndian.PutUint64(e.cfg[8*i:], uint64(r[4+i]))
			}
			if e.cfg[0] != 1 {
				return fmt.Errorf("record %d: palette %d", n, e.cfg[0])
			}
			e.configured = true
		case opLoad, opStore:
			rows, words := e.shape(x)
			if rows == 0 || words == 0 {
				return fmt.Errorf("record %d: tile %d not configured", n, x)
			}
			for row := range rows {
				for w := range words {
					p, err := e.word(uintptr(y) + uintptr(row)*uintptr(z) + uintptr(4*w))
					if err != nil {
						return fmt.Errorf("record %d (tile %d, row %d, word %d): %v", n, x, row, w, err)
					}
					if op == opLoad {
						e.tiles[x][row][w] = *p
					} else {
						*p = e.tiles[x][row][w]
					}
				}
			}
		case opDot:
			c, a, b := x, int(y), int(z)
			cRows, cWords := e.shape(c)
			aRows, aWords := e.shape(a)
			bRows, bWords := e.shape(b)
			if cRows != aRows || cWords != bWords || aWords != bRows || cWords != 16 {
				return fmt.Errorf("record %d: tdpbf16ps tmm%d (%dx%d), tmm%d (%dx%d), tmm%d (%dx%d)", n, c, cRows, cWords, a, aRows, aWords, b, bRows, bWords)
			}
			var bFlat [16 * 16]uint32
			for k := range bRows {
				copy(bFlat[k*16:], e.tiles[b][k][:])
			}
			for m := range cRows {
				for j := range cWords {
					sum := math32(e.tiles[c][m][j]) + amxStepSum(e.tiles[a][m][:aWords], bFlat[j:], 16)
					e.tiles[c][m][j] = bits32(sum)
				}
			}
		case opZero:
			e.tiles[x] = [16][16]uint32{}
		case opRelease:
			e.configured = false
			e.cfg = tileConfig{}
		default:
			return fmt.Errorf("record %d: unknown operation %d", n, op)
		}
	}
}

func math32(w uint32) float32 { return *(*float32)(unsafe.Pointer(&w)) }
func bits32(f float32) uint32 { return *(*uint32)(unsafe.Pointer(&f)) }

// tracedCalls are amxCalls running the trace twins, each call's records replayed on e; a
// replay's failure fails t.
func (e *amxEmu) tracedCalls(t testing.TB) amxCalls {
	run := func(steps, groups int, call func(trace *int64)) {
		// A record for each instruction: per group and slice its C in and out, 8 per step, and
		// the configuration and release; then the zero record that ends them.
		trace := make([]int64, (16+groups*(8+16*steps))*amxRecordWords)
		call(&trace[0])
		if err := e.replay(trace); err != nil {
			t.Fatal(err)
		}
	}
	return amxCalls{
		rows1: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, acc bool, ahead, next, _, _ int) {
			run(steps, 1, func(tr *int64) { amxBF16x1Trace(cfg, steps, a, lda, b, c, ldc, acc, ahead, next, tr) })
		},
		rows2: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, acc bool, ahead, next, _, _ int) {
			run(steps, 1, func(tr *int64) { amxBF16x2Trace(cfg, steps, a, lda, b, c, ldc, acc, ahead, next, tr) })
		},
		col: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, acc bool, ahead, next, groups, _ int) {
			run(steps, groups, func(tr *int64) { amxBF16colTrace(cfg, steps, a, lda, b, c, ldc, acc, ahead, next, groups, tr) })
		},
		cols: func(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, acc bool, ahead, next, groups, slice int) {
			run(steps, groups, func(tr *int64) { amxBF16colsTrace(cfg, steps, a, lda, b, c, ldc, acc, ahead, next, groups, slice, tr) })
		},
	}
}

// tracedFamilies are the AMX families (amx-bf16, and the column families) on their trace
// twins: each MicroBF16 call gets an emulator over the buffers it is given.
func tracedFamilies(t testing.TB) []BF16 {
	on := func(name string, mr int, family func(amxCalls) MicroBF16) BF16 {
		return BF16{Name: name + " (traced)", MR: mr, NR: approx.AMXNR, Tiles: true, Micro: func(rows, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, acc bool) {
			e := &amxEmu{a: a, b: b, c: c}
			family(e.tracedCalls(t))(rows, kp, a, lda, b, c, ldc, acc)
		}}
	}
	return []BF16{
		on("amx-bf16", approx.AMXMR, func(calls amxCalls) MicroBF16 { return amxMicro(calls, amxRowPrefetch, amxTallPrefetch) }),
		on("amx-bf16-col", amxColumnGroups*approx.AMXMR, func(calls amxCalls) MicroBF16 {
			return amxColumns(calls, amxColumnGroups, 0, amxRowPrefetch, amxTallPrefetch).Micro
		}),
		on("amx-bf16-cols", amxColumnGroups*approx.AMXMR, func(calls amxCalls) MicroBF16 {
			return amxColumns(calls, amxColumnGroups, amxColumnSlice, amxRowPrefetch, amxTallPrefetch).Micro
		}),
		// Slices of 3 steps: slices that do not divide a call's steps.
		on("amx-bf16-cols/3", amxColumnGroups*approx.AMXMR, func(calls amxCalls) MicroBF16 {
			return amxColumns(calls, amxColumnGroups, 3, amxRowPrefetch, amxTallPrefetch).Micro
		}),
	}
}

// TestAMXTraced runs every tile height of the AMX families, at depths of one step, a step and
// a rest, only a rest and several steps, through their trace twins against the pure-Go twin.
func TestAMXTraced(t *testing.T) {
	// Of the column families' heights, the whole groups and the rests that differ.
	keep := func(mr int) bool {
		return mr <= 40 || mr%32 == 0 || mr%32 == 1 || mr%32 == 17 || mr == amxColumnGroups*32-1
	}
	for _, k := range tracedFamilies(t) {
		matchHeights(t, k, []int{1, 15, 16, 17, 64, 130}, keep)
	}
}

// FuzzAMXTraced is FuzzBF16 for the AMX families' trace twins.
func FuzzAMXTraced(f *testing.F) { fuzzBF16(f, tracedFamilies) }

// TestAMXTracedCatches: the emulator reports a kernel that reads outside its buffers and a C
// that differs from the twin's, so that TestAMXTraced can fail.
func TestAMXTracedCatches(t *testing.T) {
	a, b, c := make([]uint32, 32*16), make([]uint32, 16*32), make([]float32, 32*32)
	e := &amxEmu{a: a, b: b[:16*16], c: c} // B cut short: the second half of its panel is outside
	var cfg tileConfig
	cfg.set(32, 16)
	trace := make([]int64, 64*amxRecordWords)
	amxBF16x2Trace(&cfg[0], 1, &a[0], 16, &b[0], &c[0], 32, false, 0, 0, &trace[0])
	if err := e.replay(trace); err == nil {
		t.Fatal("a load past B's end was not reported")
	}
	// A C changed behind the emulator's back differs from the twin's.
	fam := tracedFamilies(t)[0]
	fam.Micro = func(rows, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, acc bool) {
		e := &amxEmu{a: a, b: b, c: c}
		amxMicro(e.tracedCalls(t), 0, 0)(rows, kp, a, lda, b, c, ldc, acc)
		c[0]++
	}
	ft := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		runBF16(ft, fam, 5, 20, 0, 0, false, 1)
	}()
	if !ft.failed {
		t.Fatal("a wrong C was not reported")
	}
}

// recorder is a testing.TB whose Fatalf records the failure and stops the calling function.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
