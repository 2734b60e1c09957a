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
	bf16 := func(x float32) float64 { return float64(math.Float32frombits(uint32(kernels.ToBF16(x)) << 16)) }
	kerns := []kernels.BF16{kernels.GenericAMX(224, 32)}
	if bf := kernels.BestBF16(); bf.Tiles && !bf.Emulated {
		kerns = append(kerns, bf)
	}
	for _, c := range []struct {
		heads, hd, tq, s int
		causal           bool
	}{{2, 64, 150, 150, false}, {3, 32, 97, 120, true}, {2, 16, 45, 45, true}, {1, 1040, 5, 7, false},
		{2, 8, 3, 1100, false}, {2, 64, 10, 577, false}, {2, 16, 40, 7, false}, {4, 64, 577, 577, false}, {2, 4, 0, 3, false}} {
		stride := 3*c.heads*c.hd + 3 // padding columns, as in a fused projection
		q, k, v := randSlice(r, c.tq*stride), randSlice(r, c.s*stride), randSlice(r, c.s*stride)
		for _, kern := range kerns {
			if kern.Emulated && c.tq*c.s > 150*150 {
				continue // the pure-Go twin at the 577 queries' size: minutes, for nothing new
			}
			plain := Attention{NumHeads: c.heads, HeadDim: c.hd, Scale: float32(1 / math.Sqrt(float64(c.hd))), Causal: c.causal}
			tiled := plain
			tiled.Precision = BFloat16
			for _, threads := range []int{1, 2} {
				p := NewPool(threads)
				what := fmt.Sprintf("%+v %s %d threads", c, kern.Name, threads)
				_, want := guarded(c.tq*stride, 5) // guard values in the padding columns, as in got
				plain.ForwardKV(p, Heads{want, stride}, Heads{q, stride}, plain.packKVPairs(p, kern, Heads{k, stride}, Heads{v, stride}, c.s), c.tq, make([]float32, plain.ScratchSize(p, c.tq, c.s)))
				run := func(scratch []float32, words []uint32) []float32 {
					full, dst := guarded(c.tq*stride, 5)
					if kern.Emulated {
						tiled.forwardTiles(p, kern, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, c.tq, c.s, scratch, words)
					} else {
						if _, ok := tiled.tileKernel(); !ok {
							t.Fatalf("%s: Forward under BFloat16 does not run on tiles", what)
						}
						tiled.Forward(p, Heads{dst, stride}, Heads{q, stride}, Heads{k, stride}, Heads{v, stride}, c.tq, c.s, scratch)
					}
					checkGuards(t, full, 5)
					return dst
				}
				var scratch []float32
				var words []uint32
				if kern.Emulated {
					scratch = make([]float32, tiled.ScratchSizeKV(p, c.tq, c.s))
					words = make([]uint32, tiled.pairsSize(kern, c.tq, c.s))
					for i := range words {
						words[i] = 0x7fc00001
					}
				} else {
					scratch = make([]float32, tiled.ScratchSize(p, c.tq, c.s))
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
				if threads == 1 {
					checkAttention(t, what, plain, want, q, k, v, stride, c.tq, c.s, bf16, 2e-3)
				}
			}
		}
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
