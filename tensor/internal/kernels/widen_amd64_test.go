//go:build amd64 && !noasm

package kernels

import (
	"math"
	"testing"
	"unsafe"
)

// checkWidenISAs runs each vector widening this CPU has (AVX-512, AVX2) over src (len a
// multiple of 16) into a buffer with guard values past it, and fails unless every value is
// the float32 whose high half is src's and the guards are untouched.
func checkWidenISAs(t testing.TB, src []uint16) {
	const guard, mark = 16, -7.5
	kernels := map[string]func(*float32, *uint16, int){}
	if hasAVX512 {
		kernels["avx512"] = widenAVX512
	}
	if hasAVX2 {
		kernels["avx2"] = widenAVX2
	}
	if len(kernels) == 0 {
		t.Skip("no AVX2 here")
	}
	n := len(src)
	for name, widen := range kernels {
		dst := make([]float32, n+guard)
		for i := range dst {
			dst[i] = mark
		}
		if n > 0 {
			widen(unsafe.SliceData(dst), unsafe.SliceData(src), n)
		}
		for i, h := range src {
			if got := math.Float32bits(dst[i]); got != uint32(h)<<16 {
				t.Fatalf("%s n %d: [%d] = %#08x, want %#08x", name, n, i, got, uint32(h)<<16)
			}
		}
		for i := n; i < len(dst); i++ {
			if dst[i] != mark {
				t.Fatalf("%s n %d: guard [%d] overwritten with %v", name, n, i, dst[i])
			}
		}
	}
}

// TestWidenISAs: every one of the 65,536 bfloat16 bit patterns (NaNs, infinities, subnormals,
// both zeros) through each vector kernel, at every whole-vector length up to 96 and from
// every offset of a slice (unaligned loads and stores).
func TestWidenISAs(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	checkWidenISAs(t, all)
	for n := 16; n <= 96; n += 16 {
		for off := range 9 {
			checkWidenISAs(t, all[0x7f70+off:][:n])
		}
	}
}
