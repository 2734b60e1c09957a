package tensor

import (
	"unsafe"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// tileKernel is the kernel Forward multiplies bfloat16 pairs on, and true, where a.Precision is
// BFloat16, the CPU's bfloat16 kernel is a tile kernel (AMX) and heads are a whole number of
// pairs. There q, k, v and the attention weights are rounded to bfloat16 at the two products
// and their sums kept in float32, as PyTorch's bf16 autocast computes attention (and as
// ForwardKV does over keys and values PackKV packed under BFloat16); the softmax stays float32.
// Elsewhere Forward is float32 under every precision: on CPUs whose bfloat16 products are
// vector instructions (VDPBF16PS), attention as pairs ran slower than float32 (17-20 ms against
// 8-11 for BLIP-large's vision attention on this project's AMX Xeon, twenty-first session), its
// products too short (depth 64) to pay for rounding and packing.
func (a *Attention) tileKernel() (kernels.BF16, bool) {
	bf, ok := a.Precision.pairKernel()
	return bf, ok && a.Precision == BFloat16 && bf.Tiles && a.HeadDim%2 == 0
}

// pairsSize is the scratch, in words, forwardTiles needs besides ForwardKV's for T queries
// over S positions: q's, k's and v's heads rounded to pairs row by row, then each head's keys
// and values packed for kern.
func (a *Attention) pairsSize(kern kernels.BF16, t, s int) int {
	lw := a.pairsRow()
	hp := a.HeadDim / 2
	perHead := panels(s, kern.NR)*kern.NR*hp + panels(a.HeadDim, kern.NR)*kern.NR*((s+1)/2)
	return (t+2*s)*lw + a.NumHeads*perHead
}

// forwardTiles is Forward over bfloat16 pairs for kern: q, k and v rounded to pairs row by
// row into words (a.pairsSize(kern, t, s) of them, whatever they hold), the keys and values
// packed from theirs (packKVWords), and ForwardKV reading q's pairs where they lie. scratch is
// ForwardKV's.
func (a *Attention) forwardTiles(p *Pool, kern kernels.BF16, dst, q, k, v Heads, t, s int, scratch []float32, words []uint32) {
	lw := a.pairsRow()
	width := a.NumHeads * a.HeadDim
	qw, kw, vw := words[:t*lw], words[t*lw:][:s*lw], words[(t+s)*lw:][:s*lw]
	p.ForGrain(max(t, s), grainFor(3*width), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if r < t {
				kernels.ToBF16Pairs(qw[r*lw:][:width/2], q.Data[r*q.Stride:][:width])
			}
			if r < s {
				kernels.ToBF16Pairs(kw[r*lw:][:width/2], k.Data[r*k.Stride:][:width])
				kernels.ToBF16Pairs(vw[r*lw:][:width/2], v.Data[r*v.Stride:][:width])
			}
		}
	})
	kv := a.packKVWords(p, kern, kw, vw, s, words[(t+2*s)*lw:])
	a.forwardKV(p, dst, q, qw, lw, kv, t, scratch)
}

// pairsRow is the row stride, in words, of q's, k's and v's rows rounded to pairs (all heads).
func (a *Attention) pairsRow() int { return unaliased(a.NumHeads * a.HeadDim / 2) }

// packKVWords packs the keys and values of S positions, their rows already rounded to pairs
// (kw and vw, row stride a.pairsRow() words), for kern into buf, whatever it holds: each head's
// keys laid down kern's panels, its values, two positions a word, across them; heads split
// over the pool's workers. Rounding whole rows first keeps the vector conversion on 1,024
// values a call for BLIP-large where per head it was 64 (from rows 12 KiB apart), and the
// packing loops then move words. The result is packBF16's, bit for bit (each value rounds
// alone).
func (a *Attention) packKVWords(p *Pool, kern kernels.BF16, kw, vw []uint32, s int, buf []uint32) *KV {
	hd, hp, lw := a.HeadDim, a.HeadDim/2, a.pairsRow()
	// vh is vw as bfloat16 values: value d of row r's heads at vh[r*2*lw+d] (the low half of
	// a word, its even value, first in memory: amd64 and arm64 are little-endian).
	vh := unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(vw))), 2*len(vw))
	nr := kern.NR
	block := bf16Block(kern)
	kLen := panels(s, nr) * nr * hp
	vPairs := (s + 1) / 2
	vLen := panels(hd, nr) * nr * vPairs
	kv := &KV{S: s, K: make([]*Packed, a.NumHeads), V: make([]*Packed, a.NumHeads), capacity: s}
	p.ForGrain(a.NumHeads, grainFor(2*s*hd), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			kd := buf[h*(kLen+vLen):][:kLen]
			vd := buf[h*(kLen+vLen)+kLen:][:vLen]
			// Keys: word q of key c's row to row q, column c of its panel.
			eachPanel(kd, s, hp, nr, block, func(dst []uint32, kp0, kp, n0, cols int) {
				for c := 0; c < cols; c++ {
					for q, w := range kw[(n0+c)*lw+h*hp+kp0:][:kp] {
						dst[q*nr+c] = w
					}
				}
			})
			// Values: positions 2q and 2q+1 of column c (value d = n0+c of the head) into
			// row q, column c of its panel.
			eachPanel(vd, hd, vPairs, nr, block, func(dst []uint32, kp0, kp, n0, cols int) {
				for q := 0; q < kp; q++ {
					r := 2 * (kp0 + q) // the position in the word's low half
					row := dst[q*nr:][:cols]
					low := vh[r*2*lw+h*hd+n0:][:cols]
					if r+1 < s {
						high := vh[(r+1)*2*lw+h*hd+n0:][:cols]
						for c, x := range low {
							row[c] = uint32(x) | uint32(high[c])<<16
						}
					} else { // the pair's high half is past S: zero
						for c, x := range low {
							row[c] = uint32(x)
						}
					}
				}
			})
			kv.K[h] = &Packed{N: s, K: hd, bf16: &kern, words: kd, block: block, rowBytes: amxRowBytes}
			kv.V[h] = &Packed{N: hd, K: s, bf16: &kern, words: vd, block: block, rowBytes: amxRowBytes}
		}
	})
	return kv
}

// eachPanel walks the layout packBF16Blocks gives B [n, kpairs pairs] for panels of nr columns
// and passes of block pairs: fill writes the words of panel j of the pass from pair kp0 (kp
// pairs) into dst (kp rows of nr words), columns [n0, n0+cols) of B; the columns past n of a
// last panel are then zeroed.
func eachPanel(words []uint32, n, kpairs, nr, block int, fill func(dst []uint32, kp0, kp, n0, cols int)) {
	np := panels(n, nr)
	for kp0 := 0; kp0 < kpairs; kp0 += block {
		kp := min(block, kpairs-kp0)
		for j := 0; j < np; j++ {
			dst := words[kp0*np*nr+j*kp*nr:][:kp*nr]
			cols := min(nr, n-j*nr)
			fill(dst, kp0, kp, j*nr, cols)
			for q := 0; q < kp; q++ {
				clear(dst[q*nr+cols : (q+1)*nr])
			}
		}
	}
}
