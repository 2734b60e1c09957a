package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// TestAttentionTiles checks Forward over bfloat16 tiles (forwardTiles: q, k and v rounded row
// by row, the keys and values packed from the rounded rows, q's pairs read where they lie)
// against ForwardKV over keys and values packBF16 packed for the same kernel, bit for bit,
// and against float64 attention over the rounded values: for AMX's pure-Go twin on every CPU
// and, where the CPU has AMX, for its kernels through Forward itself (Precision BFloat16).
// Shapes: heads deeper than a pass of pairs (1,040 values: two passes of keys), more positions
// than a pass (1,100: two passes of values), odd positions (the last word of values half
// padding), causal and not, fewer queries than keys and more; dst guarded, the scratch dirty (NaN) and
// used twice.
func TestAttentionTiles(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct {
		heads, hd, tq, s int
		causal           bool
	}{{2, 64, 150, 150, false}, {3, 32, 97, 120, true}, {2, 16, 45, 45, true}, {1, 1040, 5, 7, false},
		{2, 8, 3, 1100, false}, {2, 64, 10, 577, false}, {2, 16, 40, 7, false}, {4, 64, 577, 577, false}, {2, 4, 0, 3, false}} {
		for _, kern := range tileKernels() {
			if kern.Emulated && c.tq*c.s > 150*150 {
				continue // the pure-Go twin at the 577 queries' size: minutes, for nothing new
			}
			for _, threads := range []int{1, 2} {
				checkAttentionTiles(t, r, kern, threads, c.heads, c.hd, c.tq, c.s, c.causal, threads == 1)
			}
		}
	}
}

// FuzzAttentionTiles is TestAttentionTiles' check (less the float64 reference) at random
// shapes: up to 4 heads of up to 130 values (whole pairs), up to 300 positions and 200
// queries (causal: no more queries than positions), on one or two workers.
func FuzzAttentionTiles(f *testing.F) {
	f.Add(uint8(2), uint8(32), uint16(33), uint16(70), false, uint64(1))
	f.Add(uint8(1), uint8(1), uint16(1), uint16(1), true, uint64(2))
	f.Add(uint8(3), uint8(40), uint16(200), uint16(257), true, uint64(3))
	f.Fuzz(func(t *testing.T, heads, pairs uint8, tq, s uint16, causal bool, seed uint64) {
		h, hd, n := int(heads)%4+1, 2*(int(pairs)%65+1), int(s)%300+1
		q := int(tq) % 201
		if causal {
			q = min(q, n)
		}
		r := rand.New(rand.NewPCG(seed, 33))
		for _, kern := range tileKernels() {
			checkAttentionTiles(t, r, kern, int(seed%2)+1, h, hd, q, n, causal, false)
		}
	})
}

// tileKernels is what the tile attention tests run on: AMX's pure-Go twin on every CPU, and
// this CPU's AMX kernels where it has them.
func tileKernels() []kernels.BF16 {
	kerns := []kernels.BF16{kernels.GenericAMX(224, 32)}
	if bf := kernels.BestBF16(); bf.Tiles && !bf.Emulated {
		kerns = append(kerns, bf)
	}
	return kerns
}

// checkAttentionTiles runs Forward over bfloat16 tiles of kern (forwardTiles for the pure-Go
// twin, Forward itself under BFloat16 for the CPU's kernels) on threads workers over heads
// heads of hd values, tq queries and s positions (random, rows padded as in a fused
// projection) and compares it with ForwardKV over the keys and values packBF16 packs, bit for
// bit, twice over the same dirty scratch, dst guarded; with reference set, against float64
// attention over the rounded values too.
func checkAttentionTiles(t *testing.T, r *rand.Rand, kern kernels.BF16, threads, heads, hd, tq, s int, causal, reference bool) {
	t.Helper()
	stride := 3*heads*hd + 3 // padding columns, as in a fused projection
	q, k, v := randSlice(r, tq*stride), randSlice(r, s*stride), randSlice(r, s*stride)
	plain := Attention{NumHeads: heads, HeadDim: hd, Scale: float32(1 / math.Sqrt(float64(hd))), Causal: causal}
	tiled := plain
	tiled.Precision = BFloat16
	p := NewPool(threads)
	what := fmt.Sprintf("%d heads of %d, %d queries, %d positions, causal %v, %s, %d threads", heads, hd, tq, s, causal, kern.Name, threads)
	_, want := guarded(tq*stride, 5) // guard values in the padding columns, as in got
	plain.ForwardKV(p, Heads{want, stride}, Heads{q, stride}, plain.packKVPairs(p, kern, Heads{k, stride}, Heads{v, stride}, s), tq, make([]float32, plain.ScratchSize(p, tq, s)))
	run := func(scratch []float32, words []uint32) []float32 {
		full, dst := guarded(tq*stride, 5)
		if kern.Emulated {
			tiled.forwardTiles(p, kern, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, tq, s, scratch, words)
		} else {
			if _, ok := tiled.tileKernel(); !ok {
				t.Fatalf("%s: Forward under BFloat16 does not run on tiles", what)
			}
			tiled.Forward(p, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, tq, s, scratch)
		}
		checkGuards(t, full, 5)
		return dst
	}
	var scratch []float32
	var words []uint32
	if kern.Emulated {
		scratch = make([]float32, tiled.ScratchSizeKV(p, tq, s))
		words = make([]uint32, tiled.pairsSize(kern, tq, s))
		for i := range words {
			words[i] = 0x7fc00001
		}
	} else {
		scratch = make([]float32, tiled.ScratchSize(p, tq, s))
	}
	for i := range scratch {
		scratch[i] = float32(math.NaN())
	}
	for round := range 2 {
		got := run(scratch, words)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s, round %d: [%d] %v, ForwardKV over packBF16's pairs %v", what, round, i, got[i], want[i])
			}
		}
	}
	if reference {
		bf16 := func(x float32) float64 { return float64(math.Float32frombits(uint32(kernels.ToBF16(x)) << 16)) }
		checkAttention(t, what, plain, want, q, k, v, stride, tq, s, bf16, 2e-3)
	}
}

// TestAttentionTileKernel: Forward multiplies tiles only under BFloat16, on a tile kernel, over
// heads of whole pairs.
func TestAttentionTileKernel(t *testing.T) {
	bf := kernels.BestBF16()
	amx := bf.Tiles && !bf.Emulated
	for _, c := range []struct {
		prec Precision
		hd   int
		want bool
	}{{BFloat16, 64, amx}, {BFloat16, 9, false}, {Float32, 64, false}, {BFloat16x3, 64, false}} {
		a := Attention{NumHeads: 2, HeadDim: c.hd, Precision: c.prec}
		if _, ok := a.tileKernel(); ok != c.want {
			t.Errorf("%v, heads of %d on %s: tiles %v, want %v", c.prec, c.hd, bf.Name, ok, c.want)
		}
		if rows := a.queryRows(); c.want && rows != max(queryBlock, bf.MR) || !c.want && rows != queryBlock {
			t.Errorf("%v, heads of %d on %s: blocks of %d queries", c.prec, c.hd, bf.Name, rows)
		}
	}
}
