package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSplit3 checks that the parts sum back to x (up to float32's last bit) and that hi is
// x's bfloat16 rounding.
func TestSplit3(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 10000; i++ {
		x := float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10)))
		hi, mid, lo := Split3(x)
		sum := float64(bf16Value(hi)) + float64(bf16Value(mid)) + float64(bf16Value(lo))
		if d := math.Abs(sum - float64(x)); d > math.Abs(float64(x))*0x1p-24 {
			t.Fatalf("Split3(%v) = %v + %v + %v: off by %g", x, bf16Value(hi), bf16Value(mid), bf16Value(lo), d)
		}
		if ToBF16(x) != hi {
			t.Fatalf("Split3(%v): hi %#x", x, hi)
		}
	}
}

// pairDot is what a MicroBF16 adds for one A word and one B word, in float64.
func pairDot(a, b uint32) float64 {
	return float64(lo(a))*float64(lo(b)) + float64(hi(a))*float64(hi(b))
}

// TestSplitProduct checks that the words of a row of A and a column of B multiply, through
// the bfloat16 pair product, into hi·hi in the main section and the five corrections in the
// other, for odd and even kc.
func TestSplitProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 3))
	f := func(h uint16) float64 { return float64(bf16Value(h)) }
	for _, kc := range []int{1, 2, 5, 8} {
		a, b := make([]float32, kc), make([]float32, kc)
		for q := range a {
			a[q], b[q] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		aw, bw := make([]uint32, SplitLen(kc)), make([]uint32, SplitLen(kc))
		SplitA(aw, a)
		SplitB(bw, b, kc, 1)
		var main, corr, wantMain, wantCorr, exact float64
		km := SplitMain(kc)
		for i := range aw {
			if i < km {
				main += pairDot(aw[i], bw[i])
			} else {
				corr += pairDot(aw[i], bw[i])
			}
		}
		for q := range a {
			ah, am, al := Split3(a[q])
			bh, bm, bl := Split3(b[q])
			wantMain += f(ah) * f(bh)
			wantCorr += f(ah)*f(bm) + f(am)*f(bh) + f(ah)*f(bl) + f(am)*f(bm) + f(al)*f(bh)
			exact += float64(a[q]) * float64(b[q])
		}
		if math.Abs(main-wantMain) > 1e-12 || math.Abs(corr-wantCorr) > 1e-12 {
			t.Fatalf("kc %d: main %v corrections %v, want %v and %v", kc, main, corr, wantMain, wantCorr)
		}
		if d := math.Abs(main + corr - exact); d > 1e-6 {
			t.Fatalf("kc %d: split sum %v, exact %v", kc, main+corr, exact)
		}
	}
}

// TestSplitBColumns checks that SplitB lays out each column of a panel as SplitA lays out a
// row of the same values, with the halves of B's correction words swapped.
func TestSplitBColumns(t *testing.T) {
	const kc, nr = 5, 3
	panel := make([]float32, kc*nr)
	for i := range panel {
		panel[i] = float32(i) + 1.0/3
	}
	dst := make([]uint32, SplitLen(kc)*nr)
	SplitB(dst, panel, kc, nr)
	for j := 0; j < nr; j++ {
		col := make([]float32, kc)
		for q := range col {
			col[q] = panel[q*nr+j]
		}
		want := make([]uint32, SplitLen(kc))
		SplitA(want, col)
		for i, w := range want {
			if i >= 2*SplitMain(kc) {
				w = w>>16 | w<<16
			}
			if got := dst[i*nr+j]; got != w {
				t.Fatalf("column %d word %d: %#x, want %#x", j, i, got, w)
			}
		}
	}
}

// checkSplitVector compares SplitA and SplitB (vector kernels where the CPU has them) with the
// pure-Go twin, bit for bit, on values of many magnitudes, with guard words past the end.
func checkSplitVector(t testing.TB, kc int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 5))
	val := func() float32 { return float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30))) }
	const nr = 32
	for _, cols := range []int{1, nr} {
		x := make([]float32, kc*cols)
		for i := range x {
			x[i] = val()
		}
		if kc > 3 {
			x[3] = 1.01171875 // a tie: rounds to even
		}
		n := SplitLen(kc) * cols
		got, want := make([]uint32, n+3), make([]uint32, n+3)
		for i := range got {
			got[i], want[i] = 0xdeadbeef, 0xdeadbeef
		}
		if cols == 1 {
			SplitA(got, x)
		} else {
			SplitB(got, x, kc, cols)
		}
		splitPanel(want, x, kc, cols, cols != 1)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("kc %d, %d columns: word %d is %#x, twin %#x", kc, cols, i, got[i], want[i])
			}
		}
	}
}

func TestSplitVector(t *testing.T) {
	for _, kc := range []int{1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 255, 256} {
		checkSplitVector(t, kc, uint64(kc))
	}
}

func FuzzSplitVector(f *testing.F) {
	f.Add(uint16(47), uint64(1))
	f.Fuzz(func(t *testing.T, kc uint16, seed uint64) { checkSplitVector(t, int(kc)%300+1, seed) })
}
