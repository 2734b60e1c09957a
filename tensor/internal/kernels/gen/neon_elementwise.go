package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// The arm64 element-wise kernels of softmax and GELU, the NEON twins of the AVX-512 ones
// (elementwise in main.go): four float32 lanes a step, n a multiple of 4, the Go callers
// finishing tails with the scalar twins. The Go assembler knows NEON's loads, stores, integer
// arithmetic and FMLA/FMLS but none of its other floating-point vector instructions, so those
// are written as their 32-bit words (gen_test.go checks each against
// aarch64-linux-gnu-objdump's reading of it).

// neonInsn is one A64 instruction written as its word, and its reading as objdump prints it.
type neonInsn struct {
	word uint32
	text string
}

func (in neonInsn) asm() string { return fmt.Sprintf("WORD $0x%08x // %s", in.word, in.text) }

// Opcodes of the vector forms on four single-precision lanes (Q = 1, sz = 0), registers clear.
var neonOps3 = map[string]uint32{
	"fadd": 0x4e20d400, "fsub": 0x4ea0d400, "fmul": 0x6e20dc00, "fdiv": 0x6e20fc00,
	"fmax": 0x4e20f400, "fmin": 0x4ea0f400, "fmaxp": 0x6e20f400, "faddp": 0x6e20d400,
}

// neon3 encodes OP Vd.4S, Vn.4S, Vm.4S.
func neon3(op string, d, n, m int) neonInsn {
	return neonInsn{neonOps3[op] | uint32(m)<<16 | uint32(n)<<5 | uint32(d), fmt.Sprintf("%s v%d.4s, v%d.4s, v%d.4s", op, d, n, m)}
}

// neon2 encodes frintn (round to nearest, ties to even) or fcvtzs (to int32, toward zero)
// Vd.4S, Vn.4S.
func neon2(op string, d, n int) neonInsn {
	ops := map[string]uint32{"frintn": 0x4e218800, "fcvtzs": 0x4ea1b800}
	return neonInsn{ops[op] | uint32(n)<<5 | uint32(d), fmt.Sprintf("%s v%d.4s, v%d.4s", op, d, n)}
}

// neonPairwise2 encodes the scalar pairwise faddp or fmaxp Sd, Vn.2S: lanes 0 and 1 into one.
func neonPairwise2(op string, d, n int) neonInsn {
	ops := map[string]uint32{"faddp": 0x7e30d800, "fmaxp": 0x7e30f800}
	return neonInsn{ops[op] | uint32(n)<<5 | uint32(d), fmt.Sprintf("%s s%d, v%d.2s", op, d, n)}
}

// neonElementwise writes maxNEON, maxExponentNEON, expSumNEON, scaleNEON, addNEON, geluNEON and widenNEON. R0
// walks x (dst for add and widen), R1 counts the steps of four values (eight for widen); V0 is
// the running max, sum or value.
func neonElementwise(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	op := func(in neonInsn) { w("%s", in.asm()) }
	// dup fills the four lanes of V(reg) with the 32 bits mov (a MOVW or MOVWU source) reads.
	dup := func(mov string, reg int) {
		w("%s, R2", mov)
		w("VDUP R2, V%d.S4", reg)
	}
	bcast := func(v float32, reg int) { dup(fmt.Sprintf("MOVW $0x%08x", math.Float32bits(v)), reg) }
	head := func(name, sig string, frame int) {
		fmt.Fprintf(b, "\n// func %s%s\nTEXT ·%s(SB), NOSPLIT, $0-%d\n", name, sig, name, frame)
		w("MOVD x+0(FP), R0")
		w("MOVD n+8(FP), R1")
		w("LSR $2, R1")
	}
	// reduce folds V0's four lanes into one with the pairwise op (faddp, fmaxp) and returns it
	// at ret, the result's offset in the frame.
	reduce := func(pairwise string, ret int) {
		op(neon3(pairwise, 0, 0, 0))
		op(neonPairwise2(pairwise, 0, 0))
		w("FMOVS F0, ret+%d(FP)", ret)
		w("RET")
	}
	loop := func(name string) { fmt.Fprintf(b, "loop_%s:\n", name) }
	// headDst starts a kernel of a destination (R0) and a source (R3) whose loop runs n>>shift
	// steps (R1).
	headDst := func(name, sig string, shift int) {
		fmt.Fprintf(b, "\n// func %s%s\nTEXT ·%s(SB), NOSPLIT, $0-24\n", name, sig, name)
		w("MOVD dst+0(FP), R0")
		w("MOVD src+8(FP), R3")
		w("MOVD n+16(FP), R1")
		w("LSR $%d, R1", shift)
		loop(name)
	}
	next := func(name string) {
		w("SUBS $1, R1, R1")
		w("BNE loop_%s", name)
	}
	// horner evaluates c[0]·x^(len-1) + ... + c[len-1] (coefficients in consecutive registers
	// from c0) with fused multiply-adds, alternating between two registers; it returns the one
	// holding the result.
	horner := func(c0, count, x, r1, r2 int) int {
		w("VMOV V%d.B16, V%d.B16", c0, r1)
		y, t := r1, r2
		for i := 1; i < count; i++ {
			w("VMOV V%d.B16, V%d.B16", c0+i, t)
			w("VFMLA V%d.S4, V%d.S4, V%d.S4", x, y, t) // t = c_i + y·x
			y, t = t, y
		}
		return y
	}

	head("maxNEON", "(x *float32, n int) float32", 20)
	w("VLD1 (R0), [V0.S4]")
	loop("maxNEON")
	w("VLD1.P 16(R0), [V1.S4]")
	op(neon3("fmax", 0, 0, 1))
	next("maxNEON")
	reduce("fmaxp", 16)

	// The largest exponent field of n values (maxExponentAVX512's twin), its four lanes then
	// folded in general registers (UMAXV is not in Go's assembler).
	head("maxExponentNEON", "(x *float32, n int) uint32", 20)
	bcast(math.Float32frombits(approx.ExponentField), 31)
	w("VEOR V0.B16, V0.B16, V0.B16")
	loop("maxExponentNEON")
	w("VLD1.P 16(R0), [V1.S4]")
	w("VAND V31.B16, V1.B16, V1.B16")
	w("VUMAX V1.S4, V0.S4, V0.S4")
	next("maxExponentNEON")
	w("VMOV V0.S[0], R2")
	for lane := 1; lane < 4; lane++ {
		w("VMOV V0.S[%d], R3", lane)
		w("CMPW R3, R2")
		w("CSELW LO, R3, R2, R2") // R2 = max(R2, R3), unsigned
	}
	w("MOVW R2, ret+16(FP)")
	w("RET")

	// e^(x·scale - shift): z clamped to [ExpLo, 89] (past ExpHi e^z overflows to +Inf all the
	// same), n = round(z·log2 e), r = z - n·ln 2, y = 1 + r + r²·P(r), then (2y)·2^(n-1) with
	// 2^(n-1) built in the exponent bits: n - 1 reaches 127 at most, and at ExpLo, where n - 1
	// is -127, the result (below 1.2e-38) flushes to 0 where the scalar twin keeps it.
	head("expSumNEON", "(x *float32, n int, scale, shift float32) float32", 28)
	dup("MOVWU scale+16(FP)", 16)
	dup("MOVWU shift+20(FP)", 17)
	bcast(approx.ExpLo, 18)
	bcast(89, 19)
	bcast(approx.ExpLog2, 20)
	bcast(approx.ExpC1, 21)
	bcast(approx.ExpC2, 22)
	for i, c := range expPoly {
		bcast(c, 23+i)
	}
	bcast(1, 29)
	dup("MOVW $126", 30) // int32
	bcast(2, 31)
	w("VEOR V0.B16, V0.B16, V0.B16")
	loop("expSumNEON")
	w("VLD1 (R0), [V1.S4]")
	op(neon3("fmul", 1, 1, 16))
	op(neon3("fsub", 1, 1, 17)) // z
	op(neon3("fmax", 1, 1, 18))
	op(neon3("fmin", 1, 1, 19))
	op(neon3("fmul", 2, 1, 20))
	op(neon2("frintn", 2, 2))              // n
	w("VFMLS V21.S4, V2.S4, V1.S4")        // r = z - n·C1
	w("VFMLS V22.S4, V2.S4, V1.S4")        // r -= n·C2
	y := horner(23, len(expPoly), 1, 3, 4) // P(r)
	op(neon3("fmul", 5, 1, 1))             // r²
	w("VMOV V1.B16, V6.B16")
	w("VFMLA V5.S4, V%d.S4, V6.S4", y) // r + r²·P(r)
	op(neon3("fadd", 6, 6, 29))        // + 1
	op(neon3("fmul", 6, 6, 31))        // 2y
	op(neon2("fcvtzs", 7, 2))          // n, exactly
	w("VADD V30.S4, V7.S4, V7.S4")     // exponent bits of 2^(n-1)
	w("VSHL $23, V7.S4, V7.S4")
	op(neon3("fmul", 6, 6, 7))
	w("VST1.P [V6.S4], 16(R0)")
	op(neon3("fadd", 0, 0, 6))
	next("expSumNEON")
	reduce("faddp", 24)

	head("scaleNEON", "(x *float32, n int, s float32)", 20)
	dup("MOVWU s+16(FP)", 1)
	loop("scaleNEON")
	w("VLD1 (R0), [V0.S4]")
	op(neon3("fmul", 0, 0, 1))
	w("VST1.P [V0.S4], 16(R0)")
	next("scaleNEON")
	w("RET")

	// widenNEON writes n (a positive multiple of 8) bfloat16 values as float32, as the
	// bfloat16-panel kernels widen B.
	headDst("widenNEON", "(dst *float32, src *uint16, n int)", 3)
	w("VLD1.P 16(R3), [V0.H8]")
	neonWiden(w, 0, 1, 2)
	w("VST1.P [V1.S4, V2.S4], 32(R0)")
	next("widenNEON")
	w("RET")

	headDst("addNEON", "(dst, src *float32, n int)", 2)
	w("VLD1 (R0), [V0.S4]")
	w("VLD1.P 16(R3), [V1.S4]")
	op(neon3("fadd", 0, 0, 1))
	w("VST1.P [V0.S4], 16(R0)")
	next("addNEON")
	w("RET")

	// x/2 · (1 + erf(x/√2)) as h + h·erf, erf(v) = v·N(v²)/D(v²) on v clamped to ±ErfClamp.
	head("geluNEON", "(x *float32, n int)", 16)
	bcast(math.Sqrt2/2, 16)
	bcast(approx.ErfClamp, 17)
	bcast(-approx.ErfClamp, 18)
	bcast(0.5, 19)
	for i, c := range erfNum {
		bcast(c, 20+i)
	}
	for i, c := range erfDen {
		bcast(c, 20+len(erfNum)+i)
	}
	loop("geluNEON")
	w("VLD1 (R0), [V0.S4]")
	op(neon3("fmul", 1, 0, 16)) // v
	op(neon3("fmin", 1, 1, 17))
	op(neon3("fmax", 1, 1, 18))
	op(neon3("fmul", 2, 1, 1)) // v²
	p := horner(20, len(erfNum), 2, 3, 4)
	op(neon3("fmul", p, p, 1)) // v·N(v²)
	q := horner(20+len(erfNum), len(erfDen), 2, 5, 6)
	op(neon3("fdiv", 7, p, q))  // erf(v)
	op(neon3("fmul", 0, 0, 19)) // h = x/2
	w("VMOV V0.B16, V8.B16")
	w("VFMLA V7.S4, V0.S4, V8.S4") // h + h·erf
	w("VST1.P [V8.S4], 16(R0)")
	next("geluNEON")
	w("RET")
}

// neonElementwiseDeclarations are the Go declarations of neonElementwise's functions.
func neonElementwiseDeclarations(d *strings.Builder) {
	for _, sig := range []string{
		"maxNEON(x *float32, n int) float32",
		"maxExponentNEON(x *float32, n int) uint32",
		"expSumNEON(x *float32, n int, scale, shift float32) float32",
		"scaleNEON(x *float32, n int, s float32)",
		"addNEON(dst, src *float32, n int)",
		"geluNEON(x *float32, n int)",
		"widenNEON(dst *float32, src *uint16, n int)",
	} {
		fmt.Fprintf(d, "\n//go:noescape\nfunc %s\n", sig)
	}
}
