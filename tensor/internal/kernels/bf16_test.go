package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestToBF16(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{{1, 0x3f80}, {-2, 0xc000}, {1.00390625, 0x3f80}, {1.01171875, 0x3f82}, {float32(math.Inf(1)), 0x7f80}} {
		if got := ToBF16(c.f); got != c.want {
			t.Errorf("ToBF16(%v) = %#x, want %#x", c.f, got, c.want)
		}
	}
	if got := ToBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN became %#x", got)
	}
}

// runBF16 compares the bf16 kernel with its pure-Go twin (genericAMX for the AMX kernels,
// genericBF16 for the others) on random bf16 data, C at an odd offset and stride inside guard
// values, bit for bit.
func runBF16(t testing.TB, k BF16, mr, kp, extra, offset int, accumulate bool, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 9))
	lda := kp + extra
	a, b := make([]uint32, mr*lda), make([]uint32, kp*k.NR)
	rnd := func() float32 { return float32(r.NormFloat64()) }
	for i := range a {
		ToBF16Pairs(a[i:i+1], []float32{rnd(), rnd()})
	}
	for i := range b {
		ToBF16Pairs(b[i:i+1], []float32{rnd(), rnd()})
	}
	ldc := k.NR + extra
	size := offset + (mr-1)*ldc + k.NR + 5
	got, want := make([]float32, size), make([]float32, size)
	for i := range got {
		got[i], want[i] = guard, guard
	}
	for row := 0; row < mr; row++ {
		for j := 0; j < k.NR; j++ {
			v := rnd()
			got[offset+row*ldc+j], want[offset+row*ldc+j] = v, v
		}
	}
	k.Micro(mr, kp, a, lda, b, got[offset:], ldc, accumulate)
	twinBF16(k)(k.NR, mr, kp, a, lda, b, want[offset:], ldc, accumulate)
	for i := range got {
		inTile := i >= offset && (i-offset)/ldc < mr && (i-offset)%ldc < k.NR
		if !inTile {
			if got[i] != guard {
				t.Fatalf("%s mr %d: wrote outside the tile at %d", k.Name, mr, i)
			}
			continue
		}
		if got[i] != want[i] {
			t.Fatalf("%s mr %d kp %d acc %v: c[%d] = %v, twin %v", k.Name, mr, kp, accumulate, i, got[i], want[i])
		}
	}
}

// twinBF16 is k's pure-Go twin.
func twinBF16(k BF16) func(nr, mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
	if k.Tiles {
		return genericAMX
	}
	return genericBF16
}

// asmBF16 lists the assembly bfloat16 kernels (AMX, AVX512-BF16); without one the comparisons
// skip.
func asmBF16(t testing.TB) []BF16 {
	var ks []BF16
	for _, k := range AvailableBF16() {
		if !k.Emulated {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		t.Skip("no assembly bfloat16 kernel in this build or on this CPU")
	}
	return ks
}

// TestBF16MatchesGeneric runs every tile height and depths around the AMX kernels' steps of
// 16 pairs (one step, a step and a rest, only a rest).
func TestBF16MatchesGeneric(t *testing.T) {
	for _, k := range asmBF16(t) {
		t.Logf("bf16 kernel: %s", k.Name)
		matchHeights(t, k, []int{1, 2, 5, 15, 16, 17, 64, 128, 130}, func(int) bool { return true })
	}
}

// matchHeights runs runBF16 for kernel k at the heights keep takes from 1 to k.MR, each at the
// depths kps, accumulating and not, with strides and offsets that vary with the height.
func matchHeights(t testing.TB, k BF16, kps []int, keep func(mr int) bool) {
	for mr := 1; mr <= k.MR; mr++ {
		if !keep(mr) {
			continue
		}
		for _, kp := range kps {
			for _, acc := range []bool{false, true} {
				runBF16(t, k, mr, kp, mr%4, mr%3, acc, uint64(mr*100+kp))
			}
		}
	}
}

func FuzzBF16(f *testing.F) { fuzzBF16(f, asmBF16) }

// fuzzBF16 fuzzes the kernels families lists against their twins: any height, depth, strides
// and offsets.
func fuzzBF16(f *testing.F, families func(testing.TB) []BF16) {
	f.Add(uint8(3), uint16(7), uint8(1), uint8(2), true, uint64(1))
	f.Add(uint8(20), uint16(33), uint8(0), uint8(5), false, uint64(2))
	f.Add(uint8(200), uint16(33), uint8(0), uint8(5), false, uint64(3))
	f.Fuzz(func(t *testing.T, mr uint8, kp uint16, extra, offset uint8, acc bool, seed uint64) {
		for _, k := range families(t) {
			runBF16(t, k, int(mr)%k.MR+1, int(kp)%300+1, int(extra)%20, int(offset)%20, acc, seed)
		}
	})
}

// BenchmarkMicroBF16 times every assembly bfloat16 kernel on its tallest tile and on short
// ones, 128 pairs of k per call (the vector kernel's passes), and its tallest tile at 16 to
// 1024 pairs a call: the time a call takes besides its products is where ns/op meets the axis
// as the pairs go to zero. On the device machine's Xeon an AMX call inside MatMul cost about 1
// µs more than its products (docs/speed-log.md, ninth session), which these calls, operands in L1 or
// L2, separate from what MatMul's memory adds.
func BenchmarkMicroBF16(b *testing.B) {
	for _, k := range asmBF16(b) {
		for _, c := range []struct{ mr, kp int }{{1, 128}, {4, 128}, {8, 128}, {16, 128}, {k.MR, 16}, {k.MR, 32}, {k.MR, 64}, {k.MR, 128}, {k.MR, 256}, {k.MR, 512}, {k.MR, 1024}} {
			mr, kp := c.mr, c.kp
			if mr > k.MR {
				continue
			}
			b.Run(fmt.Sprintf("%s/rows=%d/pairs=%d", k.Name, mr, kp), func(b *testing.B) {
				a, bb, c := make([]uint32, kp*mr), make([]uint32, kp*k.NR), make([]float32, mr*k.NR)
				for b.Loop() {
					k.Micro(mr, kp, a, kp, bb, c, k.NR, true)
				}
				b.ReportMetric(float64(2*mr*k.NR*2*kp)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestToBF16PairsVector: the vector conversion gives the scalar rounding's words, for x of
// 2·len(dst) values, for an odd x one value short (its last word padded with a zero, as the
// scores of an odd number of positions are), and for an x longer than dst needs.
func TestToBF16PairsVector(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{1, 7, 8, 9, 64, 100, 289} {
		for _, extra := range []int{0, -1, 3} {
			x := make([]float32, 2*n+extra)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 100)
			}
			x[0] = 1.01171875 // a tie: rounds to even
			got := make([]uint32, n)
			ToBF16Pairs(got, x)
			at := func(i int) float32 {
				if i < len(x) {
					return x[i]
				}
				return 0
			}
			for p := range got {
				want := uint32(ToBF16(at(2*p))) | uint32(ToBF16(at(2*p+1)))<<16
				if got[p] != want {
					t.Fatalf("n %d, x of %d: word %d %#x, want %#x", n, len(x), p, got[p], want)
				}
			}
		}
	}
}

// TestGenericAMXOrder pins the AMX twin's order of sums on a step whose result depends on it:
// even products 2^24, 1, 1 and odd ones -2^24, 0, 0 give 0 as two chains from zero (each 1 is
// lost against 2^24), 2 as one chain into C. A second step of one pair, after 16, adds 3.
func TestGenericAMXOrder(t *testing.T) {
	pair := func(lo, hi float32) uint32 {
		var w [1]uint32
		ToBF16Pairs(w[:], []float32{lo, hi})
		return w[0]
	}
	const nr = 1
	a, b := make([]uint32, 17), make([]uint32, 17)
	for p := range a {
		a[p], b[p] = pair(0, 0), pair(0, 0)
	}
	a[0], b[0] = pair(4096, -4096), pair(4096, 4096)
	a[1], b[1] = pair(1, 0), pair(1, 0)
	a[2], b[2] = pair(1, 0), pair(1, 0)
	a[16], b[16] = pair(3, 0), pair(1, 0)
	for _, c := range []struct {
		kp       int
		acc      bool
		c0, want float32
		name     string
	}{{3, false, 5, 0, "one step"}, {3, true, 5, 5, "one step into C"}, {17, false, 5, 3, "two steps"}} {
		got := []float32{c.c0}
		genericAMX(nr, 1, c.kp, a, len(a), b, got, nr, c.acc)
		if got[0] != c.want {
			t.Errorf("%s: %v, want %v", c.name, got[0], c.want)
		}
	}
}

// TestGenericAMXSums: the AMX twin computes the product (float64 sums of the same bfloat16
// values, to float32 rounding) at every depth around its steps of 16 pairs.
func TestGenericAMXSums(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	const mr, nr = 3, 5
	for _, kp := range []int{1, 15, 16, 17, 40} {
		a, b := make([]uint32, mr*kp), make([]uint32, kp*nr)
		for i := range a {
			ToBF16Pairs(a[i:i+1], []float32{float32(r.NormFloat64()), float32(r.NormFloat64())})
		}
		for i := range b {
			ToBF16Pairs(b[i:i+1], []float32{float32(r.NormFloat64()), float32(r.NormFloat64())})
		}
		c := make([]float32, mr*nr)
		for i := range c {
			c[i] = float32(r.NormFloat64())
		}
		got := append([]float32(nil), c...)
		genericAMX(nr, mr, kp, a, kp, b, got, nr, true)
		for i := range mr {
			for j := range nr {
				want, mag := float64(c[i*nr+j]), math.Abs(float64(c[i*nr+j]))
				for p := range kp {
					aw, bw := a[i*kp+p], b[p*nr+j]
					for _, v := range []float64{float64(lo(aw)) * float64(lo(bw)), float64(hi(aw)) * float64(hi(bw))} {
						want += v
						mag += math.Abs(v)
					}
				}
				if d := math.Abs(float64(got[i*nr+j]) - want); d > 1e-6*mag {
					t.Fatalf("kp %d c[%d,%d] = %v, want %v", kp, i, j, got[i*nr+j], want)
				}
			}
		}
	}
}

// checkFromBF16 widens src into a buffer with guard values past it (from an offset, so that
// the vector path's loads and stores are unaligned too) and fails unless every value is the
// float32 whose high half is src's and the guards are untouched.
func checkFromBF16(t testing.TB, src []uint16, off int) {
	const mark = -7.5
	buf := make([]float32, off+len(src)+16)
	for i := range buf {
		buf[i] = mark
	}
	FromBF16(buf[off:], src)
	for i, h := range src {
		if got := math.Float32bits(buf[off+i]); got != uint32(h)<<16 {
			t.Fatalf("len %d off %d: [%d] = %#08x, want %#08x", len(src), off, i, got, uint32(h)<<16)
		}
	}
	for i, v := range buf {
		if (i < off || i >= off+len(src)) && v != mark {
			t.Fatalf("len %d off %d: guard [%d] overwritten with %v", len(src), off, i, v)
		}
	}
}

// TestFromBF16: every bfloat16 bit pattern widens exactly, at every length up to 70 (vector
// prefixes and scalar tails) and from several offsets.
func TestFromBF16(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	checkFromBF16(t, all, 0)
	for n := 0; n <= 70; n++ {
		for off := range 5 {
			checkFromBF16(t, all[0xff80-n:][:n], off)
		}
	}
}

// FuzzFromBF16 widens arbitrary bit patterns at arbitrary lengths and offsets.
func FuzzFromBF16(f *testing.F) {
	f.Add([]byte{0x80, 0x3f, 0xc0, 0x7f, 0x01, 0x00}, uint8(3))
	f.Add(make([]byte, 66), uint8(0))
	f.Fuzz(func(t *testing.T, raw []byte, off uint8) {
		src := make([]uint16, len(raw)/2)
		for i := range src {
			src[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		}
		checkFromBF16(t, src, int(off%17))
	})
}

// TestRowsBF16: products of a few rows over keys and values packed for them take the vector
// kernel where the best is an AMX family, and the best kernel otherwise.
func TestRowsBF16(t *testing.T) {
	tile := func(name string) BF16 { return BF16{Name: name, Tiles: true} }
	vec, generic := BF16{Name: "vec"}, GenericBF16(4, 32)
	for _, c := range []struct {
		best BF16
		list []BF16
		want string
	}{
		{tile("col"), []BF16{tile("col"), tile("amx"), tile("cols"), vec, generic}, "vec"},
		{vec, []BF16{vec, generic}, "vec"},
		{generic, []BF16{vec, generic}, "go-bf16"}, // AMX refused: the precisions run float32
		{tile("col"), []BF16{tile("col"), generic}, "col"},
	} {
		if got := rowsBF16(c.best, c.list); got.Name != c.want {
			t.Errorf("best %s: rows kernel %s, want %s", c.best.Name, got.Name, c.want)
		}
	}
	rows := RowsBF16()
	for _, k := range AvailableBF16() {
		if rows.Tiles && !k.Tiles && !k.Emulated {
			t.Errorf("rows kernel %s has tiles where %s has none", rows.Name, k.Name)
		}
	}
	if best := BestBF16(); !best.Tiles && rows.Name != best.Name {
		t.Errorf("rows kernel %s, best %s", rows.Name, best.Name)
	}
}
