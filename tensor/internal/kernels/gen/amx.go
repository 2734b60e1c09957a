package main

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// AMX (Advanced Matrix Extensions, Sapphire Rapids and later) bfloat16 kernels. The Go
// assembler knows no AMX mnemonic, so every AMX instruction is written as its VEX bytes
// (gen_test.go checks each against GNU objdump's reading of them).
//
// Tiles: tmm0-tmm3 hold C (a 2x2 grid of 16x16 float32 tiles: rows 0-15 and 16-31, columns
// 0-15 and 16-31 of the 32-column panel), tmm4 and tmm5 the two 16-row blocks of A (16 pairs
// of k each), tmm6 and tmm7 the two 16-column halves of the B panel (16 rows of pairs). One
// step of k, 32 bfloat16 values, is four TDPBF16PS. The one-row-of-tiles kernel (mr <= 16)
// leaves tmm2, tmm3 and tmm5 unconfigured.
//
// The tile configuration (the shapes, which the Go caller computes from mr and the depth of
// the step) is loaded at the start of every call and the tiles are released at its end:
// nothing tile-related outlives a call, because a goroutine can move to another thread between
// calls.

// Register numbers as the x86 encodings number them.
const (
	rAX, rCX, rDX, rBX, rSI, rDI = 0, 1, 2, 3, 6, 7
	r8, r9, r10, r11             = 8, 9, 10, 11
)

// amxVEX is the three-byte VEX prefix and opcode of an AMX instruction (map 0F38, W0, L0):
// reg is ModRM.reg's register, vvvv the VEX.vvvv operand (0 when unused), index and base the
// SIB registers (0 when absent), pp the implied prefix (0 none, 1 66, 2 F3, 3 F2).
func amxVEX(pp, opcode, reg, vvvv, index, base int) []byte {
	inv := func(r int) int { return ^(r >> 3) & 1 }
	return []byte{0xc4, byte(inv(reg)<<7 | inv(index)<<6 | inv(base)<<5 | 0b00010), byte((^vvvv&0xf)<<3 | pp), byte(opcode)}
}

// sibMem is the ModRM, SIB and displacement of [base + index*1 + disp], reg in ModRM.reg.
func sibMem(reg, base, index, disp int) []byte {
	mod, tail := 0, []byte(nil)
	switch {
	case disp == 0 && base&7 != 5:
	case disp >= -128 && disp < 128:
		mod, tail = 1, []byte{byte(int8(disp))}
	default:
		mod, tail = 2, []byte{byte(disp), byte(disp >> 8), byte(disp >> 16), byte(disp >> 24)}
	}
	return append([]byte{byte(mod<<6 | (reg&7)<<3 | 0b100), byte((index&7)<<3 | base&7)}, tail...)
}

// amxInsn is one encoded AMX instruction and its Intel-syntax reading, as objdump prints it,
// and its trace record (see amxTrace).
type amxInsn struct {
	bytes []byte
	intel string
	trace []string
}

// The AMX kernels' trace twins (amxBF16x1Trace, ...; see amxKernel) are the kernels with each
// AMX instruction replaced by Go assembly that writes a record of it at R15 and moves R15 on:
// everything else, the loops, the pointers and strides, the branches, is the kernel's own
// code. They run on any x86-64 CPU, and a test replays their records on an emulator of the
// tiles (amx_trace_amd64_test.go) against the pure-Go twin, so that the kernels' logic is
// tested where no CPU has AMX; what the twins cannot show, the encodings, TestAMXEncodings
// checks against objdump. A record is amxRecord bytes: the operation (an amxOp), three
// operands, and for LDTILECFG the 64 bytes of the configuration. R14 is their scratch; the
// kernels use neither register, and nothing a record writes changes the flags.
const amxRecord = 96

// The operations of trace records, and what their operands are.
const (
	amxOpLoad    = 1 // tile, address, stride
	amxOpStore   = 2 // tile, address, stride
	amxOpDot     = 3 // C's, A's and B's tiles
	amxOpZero    = 4 // tile
	amxOpConfig  = 5 // -, -, -, then the configuration
	amxOpRelease = 6
)

var goNames = map[int]string{rAX: "AX", rCX: "CX", rDX: "DX", rBX: "BX", rSI: "SI", rDI: "DI", r8: "R8", r9: "R9", r10: "R10", r11: "R11"}

// amxTrace is the Go assembly writing a record of operation op with operands (immediates or
// registers, in Go assembly syntax) at R15, then moving R15 past it.
func amxTrace(op int, operands ...string) []string {
	lines := []string{fmt.Sprintf("MOVQ $%d, 0(R15)", op)}
	for i, o := range operands {
		lines = append(lines, fmt.Sprintf("MOVQ %s, %d(R15)", o, 8*(i+1)))
	}
	return append(lines, fmt.Sprintf("LEAQ %d(R15), R15", amxRecord))
}

// amxTraceAddr is the record of a tile load or store (op) of tile t at base + off, rows
// stride bytes apart: the address is computed into R14.
func amxTraceAddr(op, t, base, stride, off int) []string {
	return append([]string{fmt.Sprintf("LEAQ %s(%s), R14", disp(off), goNames[base])}, amxTrace(op, fmt.Sprintf("$%d", t), "R14", goNames[stride])...)
}

func (in amxInsn) asm() string {
	parts := make([]string, len(in.bytes))
	for i, b := range in.bytes {
		parts[i] = fmt.Sprintf("BYTE $0x%02x", b)
	}
	return strings.Join(parts, "; ") + " // " + in.intel
}

var regNames = map[int]string{rAX: "rax", rCX: "rcx", rDX: "rdx", rBX: "rbx", rSI: "rsi", rDI: "rdi", r8: "r8", r9: "r9", r10: "r10", r11: "r11"}

func memIntel(base, index, disp int) string {
	s := fmt.Sprintf("[%s+%s*1", regNames[base], regNames[index])
	if disp != 0 {
		s += fmt.Sprintf("+0x%x", disp)
	}
	return s + "]"
}

// ldtilecfg encodes LDTILECFG [base] (VEX.128.NP.0F38.W0 49 /0), base not rsp, rbp, r12, r13.
func ldtilecfg(base int) amxInsn {
	var tr []string // the configuration's bytes into the record, then the record's head
	for off := 0; off < 64; off += 8 {
		tr = append(tr, fmt.Sprintf("MOVQ %s(%s), R14", disp(off), goNames[base]), fmt.Sprintf("MOVQ R14, %d(R15)", 32+off))
	}
	tr = append(tr, amxTrace(amxOpConfig)...)
	return amxInsn{append(amxVEX(0, 0x49, 0, 0, 0, base), byte(base&7)), fmt.Sprintf("ldtilecfg [%s]", regNames[base]), tr}
}

// tilerelease encodes TILERELEASE (VEX.128.NP.0F38.W0 49 C0).
func tilerelease() amxInsn {
	return amxInsn{append(amxVEX(0, 0x49, 0, 0, 0, 0), 0xc0), "tilerelease", amxTrace(amxOpRelease)}
}

// tilezero encodes TILEZERO tmm (VEX.128.F2.0F38.W0 49 11:rrr:000).
func tilezero(t int) amxInsn {
	return amxInsn{append(amxVEX(3, 0x49, t, 0, 0, 0), byte(0xc0|t<<3)), fmt.Sprintf("tilezero tmm%d", t), amxTrace(amxOpZero, fmt.Sprintf("$%d", t))}
}

// tileloadd encodes TILELOADD tmm, [base + stride*1 + disp] (VEX.128.F2.0F38.W0 4B): rows of
// the tile from base + disp, stride bytes apart.
func tileloadd(t, base, stride, disp int) amxInsn {
	return amxInsn{append(amxVEX(3, 0x4b, t, 0, stride, base), sibMem(t, base, stride, disp)...),
		fmt.Sprintf("tileloadd tmm%d,%s", t, memIntel(base, stride, disp)), amxTraceAddr(amxOpLoad, t, base, stride, disp)}
}

// tilestored encodes TILESTORED [base + stride*1 + disp], tmm (VEX.128.F3.0F38.W0 4B).
func tilestored(base, stride, disp, t int) amxInsn {
	return amxInsn{append(amxVEX(2, 0x4b, t, 0, stride, base), sibMem(t, base, stride, disp)...),
		fmt.Sprintf("tilestored %s,tmm%d", memIntel(base, stride, disp), t), amxTraceAddr(amxOpStore, t, base, stride, disp)}
}

// tdpbf16ps encodes TDPBF16PS c, a, b (VEX.128.F3.0F38.W0 5C 11:rrr:bbb, b in VEX.vvvv): for
// each row m of a and column n of b's pairs, c[m][n] += Σ_k a[m].pair(k)·b[k].pair(n).
func tdpbf16ps(c, a, b int) amxInsn {
	return amxInsn{append(amxVEX(2, 0x5c, c, b, 0, 0), byte(0xc0|c<<3|a)), fmt.Sprintf("tdpbf16ps tmm%d,tmm%d,tmm%d", c, a, b),
		amxTrace(amxOpDot, fmt.Sprintf("$%d", c), fmt.Sprintf("$%d", a), fmt.Sprintf("$%d", b))}
}

// amxRowTiles are the kernels' names by rows of tiles (1: mr <= 16, 2: mr <= 32).
var amxRowTiles = []int{1, 2}

const amxNR = approx.AMXNR

// A step of the AMX kernels advances along A's rows by amxStepA bytes (16 pairs) and along
// B's panel by amxStepB (16 rows of pairs).
const amxStepA, amxStepB = 64, 16 * 4 * amxNR

// amxShape is which AMX kernel amxKernel writes.
type amxShape int

const (
	amxTile   amxShape = iota // one tile of up to 32 rows: amxBF16x1, amxBF16x2
	amxColumn                 // amxBF16col
	amxSliced                 // amxBF16cols
)

// amxKernel writes amxBF16xT, T rows of 16x16 tiles: steps steps of 16 pairs of k over an
// mr x 32 tile of C, mr and each step's depth given by the tile configuration at cfg.
//
// Registers: SI and R10 walk the two 16-row blocks of A (stride BX = lda bytes), DI the B
// panel (stride CX = 128 bytes), DX and R11 the two 16-row blocks of C (stride R8); R12 and
// R13 are B's and A's prefetch distances, AX walks A's rows as they are prefetched.
//
// Both prefetch the 2 KiB of B that the step ahead bytes further on will load (R12 = ahead;
// 0 prefetches what the step loads anyway): the one-row-of-tiles kernel serves decode steps, a
// row of A against weights streamed from memory once. The two-row kernel, which serves tall
// products with both operands coming from L2, also prefetches the same step's 32 rows of A
// (ahead/32 bytes on along each row: R13): a tile load is 16 lines from 16 rows, which the
// hardware prefetchers do not follow, and from L2 its latency, not L2's bandwidth, held the
// kernel to a third of its speed on data in L1 (BenchmarkMicroBF16Residency).
//
// The two-row kernel also prefetches next rows of the tile of C 32 rows below its own into
// L2, one row a step, as the vector kernels do (main.go: in MatMul's order that tile is the
// next call's, whose loads of C, or stores to it, would otherwise wait on memory).
//
// Columns (see amxColumns) write amxBF16col instead: the two-row kernel over
// groups tiles of 32 rows, one below the other in the same panel of C and rows of A, each
// through the same steps of the same B, with the tile configuration loaded once and the tiles
// released once. The next tile's rows it prefetches run on from the second group's (next
// counts them all), one a step. Sliced columns write amxBF16cols: the same over slices of at
// most slice steps, every group through one slice before the next slice, so that the slice's
// part of B (16 KiB at 8 steps) is read from L1 by every group after the first; C's tiles go
// out and back between slices. Each row's steps are the same either way.
//
// With trace set it writes the kernel's trace twin (amxBF16x1Trace, ...: see amxRecord), which
// takes one argument more, where its records go.
func amxKernel(b *strings.Builder, rowTiles int, shape amxShape, trace bool) {
	column, sliced := shape != amxTile, shape == amxSliced
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	amx := func(in amxInsn) {
		if !trace {
			w("%s", in.asm())
			return
		}
		for _, l := range in.trace {
			w("%s", l)
		}
	}
	name, args, frame := fmt.Sprintf("amxBF16x%d", rowTiles), "", 80
	switch shape {
	case amxColumn:
		name, args, frame = "amxBF16col", ", groups int", 88
	case amxSliced:
		name, args, frame = "amxBF16cols", ", groups, slice int", 96
	}
	if trace {
		name, args, frame = name+"Trace", args+", trace *int64", frame+8
	}
	fmt.Fprintf(b, "\n// func %s(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next int%s)\n", name, args)
	fmt.Fprintf(b, "TEXT ·%s(SB), NOSPLIT, $0-%d\n", name, frame)
	if trace {
		w("MOVQ trace+%d(FP), R15", frame-8)
	}
	w("MOVQ cfg+0(FP), AX")
	w("MOVQ steps+8(FP), R9")
	w("MOVQ a+16(FP), SI")
	w("MOVQ lda+24(FP), BX")
	w("SHLQ $2, BX")
	w("MOVQ b+32(FP), DI")
	w("MOVQ c+40(FP), DX")
	w("MOVQ ldc+48(FP), R8")
	w("SHLQ $2, R8")
	w("MOVQ $%d, CX", 4*amxNR)
	w("MOVQ ahead+64(FP), R12")
	if rowTiles == 2 {
		w("MOVQ R12, R13") // A's distance: a step is 64 bytes of a row of A, 2 KiB of B
		w("SARQ $5, R13")
		w("MOVQ BX, R10") // A's second block of 16 rows
		w("SHLQ $4, R10")
		w("ADDQ SI, R10")
		w("MOVQ R8, R11") // C's
		w("SHLQ $4, R11")
		w("ADDQ DX, R11")
	}
	cBase := []int{rDX, r11}
	aBase := []int{rSI, r10}
	amx(ldtilecfg(rAX))
	if rowTiles == 2 {
		// The next tile's rows, 32 below C's first, walked in c's argument slot as they are
		// prefetched (no register is left).
		w("MOVQ R8, AX")
		w("SHLQ $4, AX")
		w("ADDQ R11, AX")
		w("MOVQ AX, c+40(FP)")
	}
	if sliced {
		// The argument slots whose values are in registers now hold the slices' state: cfg
		// C's first row, steps the steps left after this slice, a and b where the slice
		// starts, lda the groups left in it, ldc its steps.
		w("MOVQ DX, cfg+0(FP)")
		fmt.Fprintf(b, "slice_%s:\n", name)
		w("MOVQ steps+8(FP), AX")
		w("MOVQ slice+88(FP), R9")
		w("CMPQ R9, AX")
		w("JLE take_%s", name)
		w("MOVQ AX, R9")
		fmt.Fprintf(b, "take_%s:\n", name)
		w("SUBQ R9, AX")
		w("MOVQ AX, steps+8(FP)")
		w("MOVQ R9, ldc+48(FP)")
		w("MOVQ groups+80(FP), AX")
		w("MOVQ AX, lda+24(FP)")
		w("MOVQ a+16(FP), SI")
		w("MOVQ BX, R10")
		w("SHLQ $4, R10")
		w("ADDQ SI, R10")
		w("MOVQ b+32(FP), DI")
		w("MOVQ cfg+0(FP), DX")
		w("MOVQ R8, R11")
		w("SHLQ $4, R11")
		w("ADDQ DX, R11")
	}
	if column {
		fmt.Fprintf(b, "group_%s:\n", name)
	}
	w("MOVBQZX accumulate+56(FP), AX")
	w("TESTQ AX, AX")
	w("JZ zero_%s", name)
	for r := 0; r < rowTiles; r++ {
		for h := 0; h < 2; h++ {
			amx(tileloadd(2*r+h, cBase[r], r8, 64*h))
		}
	}
	w("JMP loop_%s", name)
	fmt.Fprintf(b, "zero_%s:\n", name)
	for t := 0; t < 2*rowTiles; t++ {
		amx(tilezero(t))
	}
	fmt.Fprintf(b, "loop_%s:\n", name)
	if rowTiles == 2 {
		w("MOVQ next+72(FP), AX")
		w("TESTQ AX, AX")
		w("JZ next_%s", name)
		w("DECQ AX")
		w("MOVQ AX, next+72(FP)")
		w("MOVQ c+40(FP), AX")
		for _, off := range rowLines(4 * amxNR) {
			w("PREFETCHT1 %s(AX)", disp(off))
		}
		w("ADDQ R8, AX")
		w("MOVQ AX, c+40(FP)")
		fmt.Fprintf(b, "next_%s:\n", name)
	}
	for off := 0; off < 16*4*amxNR; off += 64 {
		w("PREFETCHT0 %s(DI)(R12*1)", disp(off))
	}
	if rowTiles == 2 {
		for _, base := range []string{"SI", "R10"} {
			w("LEAQ (%s)(R13*1), AX", base)
			for r := 0; r < 16; r++ {
				w("PREFETCHT0 (AX)")
				if r < 15 {
					w("ADDQ BX, AX")
				}
			}
		}
	}
	// Each load comes just before the first product that reads it, as Intel's optimization
	// manual orders a 2x2 grid: a tile is not renamed, so a load waits until the previous
	// step's products have read the tile it overwrites, and loading all four first (as this
	// kernel did) left no product running while they waited. Now the next step's first loads
	// (A0, then B0) wait only for the second and third products, and overlap the rest.
	amx(tileloadd(4, aBase[0], rBX, 0))
	amx(tileloadd(6, rDI, rCX, 0))
	amx(tdpbf16ps(0, 4, 6))
	amx(tileloadd(7, rDI, rCX, 64))
	amx(tdpbf16ps(1, 4, 7))
	if rowTiles == 2 {
		amx(tileloadd(5, aBase[1], rBX, 0))
		amx(tdpbf16ps(2, 5, 6))
		amx(tdpbf16ps(3, 5, 7))
	}
	w("ADDQ $%d, SI", amxStepA) // 16 pairs of k
	if rowTiles == 2 {
		w("ADDQ $%d, R10", amxStepA)
	}
	w("ADDQ $%d, DI", amxStepB) // 16 rows of the panel
	w("DECQ R9")
	w("JNZ loop_%s", name)
	for r := 0; r < rowTiles; r++ {
		for h := 0; h < 2; h++ {
			amx(tilestored(cBase[r], r8, 64*h, 2*r+h))
		}
	}
	if column {
		// The next group: A's rows 32 on from the group's first step, C's 32 on, B from the
		// start of the steps; the groups are counted down in groups (lda, a slice's, for the
		// sliced kernel), the steps a group takes are in steps (ldc, a slice's).
		counter, steps, done := "groups+80(FP)", "steps+8(FP)", "done_"+name
		if sliced {
			counter, steps, done = "lda+24(FP)", "ldc+48(FP)", "sliced_"+name
		}
		w("DECQ %s", counter)
		w("JZ %s", done)
		w("MOVQ %s, R9", steps)
		w("MOVQ R9, AX")
		w("SHLQ $%d, AX", bits.TrailingZeros(amxStepA))
		w("SUBQ AX, SI")
		w("MOVQ BX, AX")
		w("SHLQ $5, AX")
		w("ADDQ AX, SI")
		w("MOVQ BX, R10")
		w("SHLQ $4, R10")
		w("ADDQ SI, R10")
		w("MOVQ b+32(FP), DI")
		w("MOVQ R8, AX")
		w("SHLQ $5, AX")
		w("ADDQ AX, DX")
		w("ADDQ AX, R11")
		w("JMP group_%s", name)
	}
	if sliced {
		// After a slice's last group, the next slice: A and B from the slice's end.
		fmt.Fprintf(b, "sliced_%s:\n", name)
		w("MOVB $1, accumulate+56(FP)")
		w("MOVQ steps+8(FP), AX")
		w("TESTQ AX, AX")
		w("JZ done_%s", name)
		w("MOVQ ldc+48(FP), AX")
		w("SHLQ $%d, AX", bits.TrailingZeros(amxStepA))
		w("ADDQ AX, a+16(FP)")
		w("MOVQ ldc+48(FP), AX")
		w("SHLQ $%d, AX", bits.TrailingZeros(amxStepB))
		w("ADDQ AX, b+32(FP)")
		w("JMP slice_%s", name)
	}
	if column {
		fmt.Fprintf(b, "done_%s:\n", name)
	}
	amx(tilerelease())
	w("RET")
}

// amxPeak writes amxPeakBF16(cfg, a, b, n): n steps of the two-row kernel's four products
// (tmm0-3 += tmm4-5 · tmm6-7, four independent accumulators) on tiles loaded once, without a
// load in the loop: timed, one core's TDPBF16PS peak, which the AMX kernels' speeds are
// fractions of, as the vector kernels' are of the FMA peak. A's two tiles are the 2 KiB at a,
// B's the 2 KiB at b, 64 bytes a row; cfg is the two-row kernel's configuration for steps of
// 16 pairs.
func amxPeak(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	b.WriteString("\n// func amxPeakBF16(cfg *byte, a, b *uint32, n int)\n")
	b.WriteString("TEXT ·amxPeakBF16(SB), NOSPLIT, $0-32\n")
	w("MOVQ cfg+0(FP), AX")
	w("MOVQ a+8(FP), SI")
	w("MOVQ b+16(FP), DI")
	w("MOVQ n+24(FP), R9")
	w("MOVQ $64, CX")
	w("%s", ldtilecfg(rAX).asm())
	w("%s", tileloadd(4, rSI, rCX, 0).asm())
	w("%s", tileloadd(5, rSI, rCX, 1024).asm())
	w("%s", tileloadd(6, rDI, rCX, 0).asm())
	w("%s", tileloadd(7, rDI, rCX, 1024).asm())
	for t := 0; t < 4; t++ {
		w("%s", tilezero(t).asm())
	}
	b.WriteString("loop_amxPeak:\n")
	w("%s", tdpbf16ps(0, 4, 6).asm())
	w("%s", tdpbf16ps(1, 4, 7).asm())
	w("%s", tdpbf16ps(2, 5, 6).asm())
	w("%s", tdpbf16ps(3, 5, 7).asm())
	w("DECQ R9")
	w("JNZ loop_amxPeak")
	w("%s", tilerelease().asm())
	w("RET")
}

// The split kernels of the bfloat16x3 precision (kernels.SplitA, SplitB): each float32 x
// becomes x = hi + mid + lo, bfloat16 roundings to nearest even of what is left, computed as
// float32 values with their low 16 bits clear (so that the remainders are exact float32
// subtractions), then packed two to a word.

// splitRound writes dst = x rounded to bfloat16, to nearest even, as a float32 with clear low
// half (Z30 = 0x7fff, Z31 = 1, Z29 = 0xffff0000; tmp is scratch).
func splitRound(w func(string, ...any), x, dst, tmp string) {
	w("VPSRLD $16, %s, %s", x, tmp)
	w("VPANDD Z31, %s, %s", tmp, tmp)
	w("VPADDD Z30, %s, %s", x, dst)
	w("VPADDD %s, %s, %s", tmp, dst, dst)
	w("VPANDD Z29, %s, %s", dst, dst)
}

// split3 writes hi, mid and lo of the 16 values in x (float32s with clear low halves).
func split3(w func(string, ...any), x, hi, mid, lo, tmp, rest string) {
	splitRound(w, x, hi, tmp)
	w("VSUBPS %s, %s, %s", hi, x, rest) // rest = x - hi, exact
	splitRound(w, rest, mid, tmp)
	w("VSUBPS %s, %s, %s", mid, rest, rest)
	splitRound(w, rest, lo, tmp)
}

// splitSections points R9, R10 and R11 at the mids, hi·mid and hi·lo sections of the split
// words at DI, for kc0 = kc0+24(FP) values of k, each unit of a section 1<<shift bytes.
func splitSections(w func(string, ...any), shift int) {
	w("MOVQ kc0+24(FP), DX")
	w("MOVQ DX, R8") // km0 = ⌈kc0/2⌉ units
	w("INCQ R8")
	w("SHRQ $1, R8")
	w("SHLQ $%d, R8", shift)
	w("LEAQ (DI)(R8*1), R9")  // mids
	w("LEAQ (R9)(R8*1), R10") // hi·mid pairs
	w("SHLQ $%d, DX", shift)
	w("LEAQ (R10)(DX*1), R11") // hi·lo pairs
}

func splitConstants(w func(string, ...any)) {
	w("MOVL $0x7fff, AX")
	w("VPBROADCASTD AX, Z30")
	w("MOVL $1, AX")
	w("VPBROADCASTD AX, Z31")
	w("MOVL $0xffff0000, AX")
	w("VPBROADCASTD AX, Z29")
}

// splitB writes splitBAVX512(dst, panel, kc): the split words of the first kc rows (kc even,
// at least 2) of a 32-column panel of kc0 rows, laid out as kernels.SplitB lays out a panel of
// kc0 rows: main words at row t, mids at km0+t, hi·mid pairs at 2·km0+q, hi·lo pairs at
// 2·km0+kc0+q (km0 = ⌈kc0/2⌉; B's pairs put the smaller part in the low half).
func splitB(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	b.WriteString("\n// func splitBAVX512(dst *uint32, panel *float32, kc, kc0 int)\n")
	b.WriteString("TEXT ·splitBAVX512(SB), NOSPLIT, $0-32\n")
	w("MOVQ dst+0(FP), DI")
	w("MOVQ panel+8(FP), SI")
	w("MOVQ kc+16(FP), CX")
	w("SHRQ $1, CX")    // pairs of rows
	splitSections(w, 7) // rows of 32 words
	splitConstants(w)
	b.WriteString("loop_splitB:\n")
	for h := 0; h < 2; h++ {
		off := 64 * h
		w("VMOVUPS %d(SI), Z0", off)     // row 2t
		w("VMOVUPS %d(SI), Z1", off+128) // row 2t+1
		split3(w, "Z0", "Z2", "Z3", "Z4", "Z10", "Z11")
		split3(w, "Z1", "Z5", "Z6", "Z7", "Z10", "Z11")
		pack := func(low, high, dst string, disp int) {
			w("VPSRLD $16, %s, Z12", low)
			w("VPORD %s, Z12, Z12", high)
			w("VMOVDQU32 Z12, %d(%s)", disp, dst)
		}
		pack("Z2", "Z5", "DI", off)      // hi(2t) | hi(2t+1)
		pack("Z3", "Z6", "R9", off)      // mid(2t) | mid(2t+1)
		pack("Z3", "Z2", "R10", off)     // mid | hi, row 2t
		pack("Z6", "Z5", "R10", off+128) // row 2t+1
		pack("Z4", "Z2", "R11", off)     // lo | hi
		pack("Z7", "Z5", "R11", off+128)
	}
	w("ADDQ $256, SI")
	w("ADDQ $128, DI")
	w("ADDQ $128, R9")
	w("ADDQ $256, R10")
	w("ADDQ $256, R11")
	w("DECQ CX")
	w("JNZ loop_splitB")
	w("VZEROUPPER")
	w("RET")
}

// splitA writes splitAAVX512(dst, x, n, kc0): the split words of x[:n] (n a multiple of 16)
// in the layout kernels.SplitA gives a row of kc0 values: main words (pairs of consecutive
// values) at n/2 words, mids at km0 + n/2, hi·mid pairs at 2·km0 + q, hi·lo pairs at
// 2·km0 + kc0 + q (A's pairs put hi in the low half).
func splitA(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	b.WriteString("\n// func splitAAVX512(dst *uint32, x *float32, n, kc0 int)\n")
	b.WriteString("TEXT ·splitAAVX512(SB), NOSPLIT, $0-32\n")
	w("MOVQ dst+0(FP), DI")
	w("MOVQ x+8(FP), SI")
	w("MOVQ n+16(FP), CX")
	w("SHRQ $4, CX")
	splitSections(w, 2) // single words
	splitConstants(w)
	b.WriteString("loop_splitA:\n")
	w("VMOVUPS (SI), Z0")
	split3(w, "Z0", "Z2", "Z3", "Z4", "Z10", "Z11")
	// Consecutive values into one word: in each quadword (x[2t] low, x[2t+1] high), the
	// even value's upper half moves down to bits 0-15 and the odd one's to bits 16-31.
	consecutive := func(v, dst string) {
		w("VPSRLQ $16, %s, Z12", v)
		w("VPSRLQ $32, %s, Z13", v)
		w("VPORQ Z13, Z12, Z12")
		w("VPMOVQD Z12, Y12")
		w("VMOVDQU Y12, (%s)", dst)
	}
	consecutive("Z2", "DI")
	consecutive("Z3", "R9")
	w("VPSRLD $16, Z2, Z12") // hi | mid
	w("VPORD Z3, Z12, Z13")
	w("VMOVDQU32 Z13, (R10)")
	w("VPORD Z4, Z12, Z13") // hi | lo
	w("VMOVDQU32 Z13, (R11)")
	w("ADDQ $64, SI")
	w("ADDQ $32, DI")
	w("ADDQ $32, R9")
	w("ADDQ $64, R10")
	w("ADDQ $64, R11")
	w("DECQ CX")
	w("JNZ loop_splitA")
	w("VZEROUPPER")
	w("RET")
}

// xgetbv writes xgetbv0() (eax, edx uint32): the OS-enabled state components (XCR0).
func xgetbv(b *strings.Builder) {
	b.WriteString("\n// func xgetbv0() (eax, edx uint32)\n")
	b.WriteString("TEXT ·xgetbv0(SB), NOSPLIT, $0-8\n")
	b.WriteString("\tMOVL $0, CX\n\tXGETBV\n\tMOVL AX, eax+0(FP)\n\tMOVL DX, edx+4(FP)\n\tRET\n")
}

// cpuid writes cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32): the CPU's vendor and family
// (golang.org/x/sys/cpu gives its features only), for choices measured per CPU.
func cpuid(b *strings.Builder) {
	b.WriteString("\n// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)\n")
	b.WriteString("TEXT ·cpuid(SB), NOSPLIT, $0-24\n")
	b.WriteString("\tMOVL leaf+0(FP), AX\n\tMOVL sub+4(FP), CX\n\tCPUID\n")
	b.WriteString("\tMOVL AX, eax+8(FP)\n\tMOVL BX, ebx+12(FP)\n\tMOVL CX, ecx+16(FP)\n\tMOVL DX, edx+20(FP)\n\tRET\n")
}

func amxDeclarations(decl func(string, ...any)) {
	for _, t := range amxRowTiles {
		decl("amxBF16x%d(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next int)", t)
	}
	decl("amxBF16col(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups int)")
	for _, t := range amxRowTiles {
		decl("amxBF16x%dTrace(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next int, trace *int64)", t)
	}
	decl("amxBF16colTrace(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups int, trace *int64)")
	decl("amxBF16cols(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups, slice int)")
	decl("amxBF16colsTrace(cfg *byte, steps int, a *uint32, lda int, b *uint32, c *float32, ldc int, accumulate bool, ahead, next, groups, slice int, trace *int64)")
	decl("amxPeakBF16(cfg *byte, a, b *uint32, n int)")
	decl("splitBAVX512(dst *uint32, panel *float32, kc, kc0 int)")
	decl("splitAAVX512(dst *uint32, x *float32, n, kc0 int)")
	decl("xgetbv0() (eax, edx uint32)")
	decl("cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)")
}

func amxKernels(b *strings.Builder) {
	for _, trace := range []bool{false, true} {
		for _, t := range amxRowTiles {
			amxKernel(b, t, amxTile, trace)
		}
		amxKernel(b, 2, amxColumn, trace)
		amxKernel(b, 2, amxSliced, trace)
	}
	amxPeak(b)
	splitB(b)
	splitA(b)
	xgetbv(b)
	cpuid(b)
}
