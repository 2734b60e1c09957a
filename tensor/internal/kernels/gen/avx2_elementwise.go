package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// The AVX2 (with FMA) element-wise kernels of softmax and GELU, for x86 CPUs without AVX-512
// (AMD Zen 2 and 3, Intel before Skylake-SP and its client cores since Alder Lake), where the
// scalar twins took a quarter of the vision encoder's time. They compute what the AVX-512
// kernels (elementwise in main.go) compute, bit for bit: each lane the same operations in the
// same order, n a multiple of 16 as there, the sixteen lanes of an AVX-512 register kept as
// two registers of eight (the sum and the max fold them as the AVX-512 kernels fold theirs).
// AVX2 has no VSCALEFPS: e^x's 2^n is built in the exponent bits in two halves, y·2^h·2^l
// with h + l = n, the first product exact, so the result is rounded once as VSCALEFPS rounds
// it (subnormal results near ExpLo included). It also has sixteen vector registers, not
// thirty-two: the polynomials' coefficients are read from memory (avx2Consts).

// avx2Const is one constant of the AVX2 kernels, eight copies in read-only memory.
type avx2Const struct {
	name  string
	value uint32
}

// avx2Consts lays out the read-only table the AVX2 kernels read their constants from, in
// the order given, 32 bytes each, and returns each constant's operand by name.
func avx2Consts(b *strings.Builder, consts []avx2Const) map[string]string {
	operand := map[string]string{}
	for i, c := range consts {
		for lane := 0; lane < 8; lane++ {
			fmt.Fprintf(b, "DATA avx2Consts<>+%d(SB)/4, $0x%08x\n", 32*i+4*lane, c.value)
		}
		operand[c.name] = fmt.Sprintf("avx2Consts<>+%d(SB)", 32*i)
	}
	fmt.Fprintf(b, "GLOBL avx2Consts<>(SB), RODATA|NOPTR, $%d\n", 32*len(consts))
	return operand
}

func f32Const(name string, v float32) avx2Const { return avx2Const{name, math.Float32bits(v)} }

// avx2Elementwise writes maxAVX2, maxExponentAVX2, expSumAVX2, scaleAVX2, addRowsAVX2,
// geluRowsAVX2 and widenAVX2. SI walks x, CX counts the steps of sixteen values (the row kernels: see
// rowsKernel).
func avx2Elementwise(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, "\t"+format+"\n", args...) }
	var consts []avx2Const
	for i, c := range expPoly {
		consts = append(consts, f32Const(fmt.Sprintf("exp%d", i), c))
	}
	for i, c := range erfNum {
		consts = append(consts, f32Const(fmt.Sprintf("num%d", i), c))
	}
	for i, c := range erfDen {
		consts = append(consts, f32Const(fmt.Sprintf("den%d", i), c))
	}
	consts = append(consts, avx2Const{"bias", 127})
	b.WriteString("\n// The AVX2 kernels' constants, eight lanes each.\n")
	mem := avx2Consts(b, consts)
	bcast := func(v float32, reg string) {
		w("MOVL $0x%08x, AX", math.Float32bits(v))
		w("VMOVD AX, X15")
		w("VPBROADCASTD X15, %s", reg)
	}
	head := func(name, sig string, frame int) {
		fmt.Fprintf(b, "\n// func %s%s\nTEXT ·%s(SB), NOSPLIT, $0-%d\n", name, sig, name, frame)
		w("MOVQ x+0(FP), SI")
		w("MOVQ n+8(FP), CX")
		w("SHRQ $4, CX")
	}

	// next ends a loop over steps of sixteen values.
	next := func(label string) {
		w("ADDQ $64, SI")
		w("DECQ CX")
		w("JNZ %s", label)
	}
	// result folds Y0 and Y1 (lanes 0-7 and 8-15) into X0's first lane with op, as the AVX-512
	// kernels fold theirs, and returns it at ret, the result's offset in the frame.
	result := func(op string, ret int) {
		foldLanes(w, op)
		w("MOVSS X0, ret+%d(FP)", ret)
		w("VZEROUPPER")
		w("RET")
	}

	// Y0 and Y1 are the AVX-512 kernel's lanes 0-7 and 8-15; Y4 gathers the lanes that met a
	// NaN (MAXPS returns its second source where either is NaN).
	head("maxAVX2", "(x *float32, n int) float32", 20)
	w("VMOVUPS (SI), Y0")
	w("VMOVUPS 32(SI), Y1")
	w("VXORPS Y4, Y4, Y4")
	b.WriteString("loop_maxAVX2:\n")
	w("PREFETCHT0 %d(SI)", approx.PrefetchAhead) // as maxAVX512
	for h := 0; h < 2; h++ {
		w("VMOVUPS %s(SI), Y2", disp(32*h))
		w("VCMPPS $3, Y2, Y2, Y3") // unordered: NaN lanes
		w("VORPS Y3, Y4, Y4")
		w("VMAXPS Y2, Y%d, Y%d", h, h)
	}
	next("loop_maxAVX2")
	w("VMOVMSKPS Y4, AX")
	w("TESTL AX, AX")
	w("JZ reduce_maxAVX2")
	w("MOVL $0x7fc00000, AX") // a NaN
	w("MOVL AX, ret+16(FP)")
	w("VZEROUPPER")
	w("RET")
	b.WriteString("reduce_maxAVX2:\n")
	result("VMAXPS", 16)

	// maxExponentAVX512's twin: Y0 and Y1 hold lanes 0-7 and 8-15 of its running max.
	head("maxExponentAVX2", "(x *float32, n int) uint32", 20)
	bcast(math.Float32frombits(approx.ExponentField), "Y5")
	w("VPXOR Y0, Y0, Y0")
	w("VPXOR Y1, Y1, Y1")
	b.WriteString("loop_maxExponentAVX2:\n")
	w("PREFETCHT0 %d(SI)", approx.PrefetchAhead) // as maxAVX512
	for h := 0; h < 2; h++ {
		w("VPAND %s(SI), Y5, Y2", disp(32*h))
		w("VPMAXUD Y2, Y%d, Y%d", h, h)
	}
	next("loop_maxExponentAVX2")
	result("VPMAXUD", 16)

	// e^(x·scale - shift) as expSumAVX512 computes it, z clamped to [ExpLo, expClampHi], then
	// 2^n = 2^h·2^l, h = n>>1, l = n - h: n ranges over [-126, 128]. A NaN z gives a NaN y,
	// whatever the exponents' bits. Y0 and Y1 sum lanes 0-7 and 8-15.
	head("expSumAVX2", "(x *float32, n int, scale, shift float32) float32", 28)
	w("VBROADCASTSS scale+16(FP), Y2")
	w("VBROADCASTSS shift+20(FP), Y3")
	bcast(approx.ExpLo, "Y4")
	bcast(expClampHi, "Y5")
	bcast(approx.ExpLog2, "Y6")
	bcast(approx.ExpC1, "Y7")
	bcast(approx.ExpC2, "Y8")
	bcast(1, "Y9")
	w("VXORPS Y0, Y0, Y0")
	w("VXORPS Y1, Y1, Y1")
	b.WriteString("loop_expSumAVX2:\n")
	for h := 0; h < 2; h++ {
		w("VMOVUPS %s(SI), Y10", disp(32*h))
		w("VMULPS Y2, Y10, Y10")       // x·scale
		w("VSUBPS Y3, Y10, Y10")       // z = x·scale - shift
		w("VMAXPS Y10, Y4, Y10")       // clamp below (a NaN stays NaN: MAXPS returns its second source)
		w("VMINPS Y10, Y5, Y10")       // and above
		w("VMULPS Y6, Y10, Y11")       // t = z·log2(e)
		w("VROUNDPS $0, Y11, Y11")     // n = round(t), to nearest even
		w("VFNMADD231PS Y7, Y11, Y10") // r = z - n·C1
		w("VFNMADD231PS Y8, Y11, Y10") // r -= n·C2
		w("VMOVUPS %s, Y12", mem["exp0"])
		for i := 1; i < len(expPoly); i++ {
			w("VFMADD213PS %s, Y10, Y12", mem[fmt.Sprintf("exp%d", i)]) // y = y·r + p_i
		}
		w("VMULPS Y10, Y10, Y13")      // r²
		w("VFMADD213PS Y10, Y13, Y12") // y = y·r² + r
		w("VADDPS Y9, Y12, Y12")       // + 1
		w("VCVTPS2DQ Y11, Y14")        // n, exactly
		w("VPSRAD $1, Y14, Y15")       // h
		w("VPSUBD Y15, Y14, Y14")      // l
		for _, e := range []string{"Y15", "Y14"} {
			w("VPADDD %s, %s, %s", mem["bias"], e, e)
			w("VPSLLD $23, %s, %s", e, e)
		}
		w("VMULPS Y15, Y12, Y12") // ·2^h, exact
		w("VMULPS Y14, Y12, Y12") // ·2^l, rounded once
		w("VMOVUPS Y12, %s(SI)", disp(32*h))
		w("VADDPS Y12, Y%d, Y%d", h, h)
	}
	next("loop_expSumAVX2")
	result("VADDPS", 24)

	head("scaleAVX2", "(x *float32, n int, s float32)", 20)
	w("VBROADCASTSS s+16(FP), Y1")
	b.WriteString("loop_scaleAVX2:\n")
	for h := 0; h < 2; h++ {
		w("VMULPS %s(SI), Y1, Y0", disp(32*h))
		w("VMOVUPS Y0, %s(SI)", disp(32*h))
	}
	w("ADDQ $64, SI")
	w("DECQ CX")
	w("JNZ loop_scaleAVX2")
	w("VZEROUPPER")
	w("RET")

	rowsKernel(b, w, "addRowsAVX2", true, func() {}, func() {
		for h := 0; h < 2; h++ {
			w("VMOVUPS %s(DI), Y0", disp(32*h))
			w("VADDPS %s(SI), Y0, Y0", disp(32*h))
			w("VMOVUPS Y0, %s(DI)", disp(32*h))
		}
		w("ADDQ $64, SI")
		w("ADDQ $64, DI")
	})

	// x/2 · (1 + erf(x/√2)) as h + h·erf, erf(v) = v·N(v²)/D(v²) on v clamped to ±ErfClamp,
	// as geluRowsAVX512 computes it.
	rowsKernel(b, w, "geluRowsAVX2", false, func() {
		bcast(math.Sqrt2/2, "Y6")
		bcast(approx.ErfClamp, "Y7")
		bcast(-approx.ErfClamp, "Y8")
		bcast(0.5, "Y9")
	}, func() { geluStepAVX2(w, mem) })

	widenKernel(b, "widenAVX2", "Y", 32) // widenAVX512 in two halves of eight values
}

// geluStepAVX2 is geluRowsAVX2's step: GELU of the sixteen values at SI, in place, as
// geluRowsAVX512 computes it (mem: the constants' operands).
func geluStepAVX2(w func(string, ...any), mem map[string]string) {
	for h := 0; h < 2; h++ {
		w("VMOVUPS %s(SI), Y0", disp(32*h))
		w("VMULPS Y6, Y0, Y1") // v = x/√2
		w("VMINPS Y7, Y1, Y1")
		w("VMAXPS Y8, Y1, Y1")
		w("VMULPS Y1, Y1, Y2") // v²
		w("VMOVUPS %s, Y3", mem["num0"])
		for i := 1; i < len(erfNum); i++ {
			w("VFMADD213PS %s, Y2, Y3", mem[fmt.Sprintf("num%d", i)]) // p = p·v² + a_i
		}
		w("VMULPS Y1, Y3, Y3") // p·v
		w("VMOVUPS %s, Y4", mem["den0"])
		for i := 1; i < len(erfDen); i++ {
			w("VFMADD213PS %s, Y2, Y4", mem[fmt.Sprintf("den%d", i)]) // q = q·v² + b_i
		}
		w("VDIVPS Y4, Y3, Y3")      // erf(v)
		w("VMULPS Y9, Y0, Y0")      // h = x/2
		w("VFMADD213PS Y0, Y0, Y3") // h·erf + h
		w("VMOVUPS Y3, %s(SI)", disp(32*h))
	}
	w("ADDQ $64, SI")
}

// avx2ElementwiseDeclarations are the Go declarations of avx2Elementwise's functions.
func avx2ElementwiseDeclarations(decl func(string, ...any)) {
	decl("maxAVX2(x *float32, n int) float32")
	decl("maxExponentAVX2(x *float32, n int) uint32")
	decl("expSumAVX2(x *float32, n int, scale, shift float32) float32")
	decl("scaleAVX2(x *float32, n int, s float32)")
	decl("addRowsAVX2(dst *float32, ldd, rows int, src *float32, n int)")
	decl("geluRowsAVX2(x *float32, ldx, rows, n int)")
	decl("widenAVX2(dst *float32, src *uint16, n int)")
}
