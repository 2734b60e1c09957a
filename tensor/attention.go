package tensor

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// Heads is a strided view of a matrix whose columns hold several attention heads side by side:
// element d of head h in row r is at Data[r*Stride + h*HeadDim + d]. It lets attention read q, k
// and v straight out of a fused projection without copying them apart.
type Heads struct {
	Data   []float32
	Stride int
}

// Attention holds the shape of a multi-head attention.
type Attention struct {
	NumHeads, HeadDim int
	// Scale multiplies q·kᵀ before the softmax (1/√HeadDim).
	Scale float32
	// Causal masks keys after each query: with T queries over S keys, query i sees keys
	// [0, S-T+i] (the newest T keys are the queries' own positions).
	Causal bool
	// Precision is Forward's: under BFloat16 on CPUs with AMX it multiplies bfloat16 tiles
	// (see tileKernel); otherwise, and under Float32 and BFloat16x3, it is float32.
	Precision Precision
}

// KV is the keys and values of S positions packed per head for the matrix-product kernel:
// K[h] is [S, HeadDim] (so q·kᵀ is a product with it), V[h] is its values transposed.
type KV struct {
	S    int
	K, V []*Packed
	// capacity is how many positions fit: S, or a cache's room (NewKVCache).
	capacity int
}

// Capacity is the most positions kv can hold: S, except for a cache from NewKVCache.
func (kv *KV) Capacity() int { return kv.capacity }

// NewKVCache returns the self-attention cache of a sequence being decoded: no position yet,
// room for capacity, each head's keys and values packed as PackKV packs float32 ones (a
// decoder's self-attention is float32 under every precision) in a layout laid out for the
// capacity (Packed.panel), so that Put packs each step's new positions where they stay and
// ForwardKV reads the cache as it stands. Packing every cached position again at every step
// (Forward), as decoders did, made steps grow with the sequence: BLIP-large's median step at
// 150 tokens on 2 cores of the Zen 5 went from 6.65-6.67 to 6.10-6.22 ms in bfloat16 and from
// 9.4-12.4 to 8.6-11.5 ms in float32 (bench -tokens 150, alternating rounds).
func (a *Attention) NewKVCache(capacity int) *KV {
	kern := kernels.Best()
	hd := a.HeadDim
	kl, vl := packedLen(kern, capacity, hd), packedLen(kern, hd, capacity)
	buf := make([]float32, a.NumHeads*(kl+vl))
	kv := &KV{K: make([]*Packed, a.NumHeads), V: make([]*Packed, a.NumHeads), capacity: capacity}
	for h := range a.NumHeads {
		kd, vd := buf[h*(kl+vl):][:kl], buf[h*(kl+vl)+kl:][:vl]
		kv.K[h] = &Packed{N: 0, K: hd, kernel: kern, data: kd, kc: kcBlock, layoutN: capacity, layoutK: hd}
		kv.V[h] = &Packed{N: hd, K: 0, kernel: kern, data: vd, kc: kcBlock, layoutN: hd, layoutK: capacity, transposed: true}
	}
	return kv
}

// Put packs the keys and values of positions [pos, pos+t) (t rows of k and v) into a cache
// from NewKVCache, which then holds pos+t positions: pos is at most kv.S, so that a step can be
// taken again from where its caller's count of positions stands (a decode step cancelled
// between layers leaves some layers' caches a step ahead). It panics if they do not fit.
func (a *Attention) Put(p *Pool, kv *KV, pos int, k, v Heads, t int) {
	hd := a.HeadDim
	if pos < 0 || pos > kv.S || pos+t > kv.capacity || len(kv.K) != a.NumHeads {
		panic(fmt.Sprintf("tensor: positions [%d, %d) put in a key/value cache of %d (room for %d, %d heads)", pos, pos+t, kv.S, kv.capacity, len(kv.K)))
	}
	p.ForGrain(a.NumHeads, grainFor(2*t*hd), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			kp, vp := kv.K[h], kv.V[h]
			nr := kp.kernel.NR
			for i := range t {
				at := pos + i
				key, value := k.Data[i*k.Stride+h*hd:][:hd], v.Data[i*v.Stride+h*hd:][:hd]
				// The key is column at%nr of panel at/nr, in every pass over the head's
				// dimensions; the value is row at-k0 of the pass from k0, across its panels.
				for k0 := 0; k0 < hd; k0 += kp.kc {
					panel := kp.panel(k0, at/nr)
					for q := range min(kp.kc, hd-k0) {
						panel[q*nr+at%nr] = key[k0+q]
					}
				}
				k0 := at - at%vp.kc
				for j := range panels(hd, nr) {
					row := vp.panel(k0, j)[(at-k0)*nr:][:nr]
					clear(row[copy(row, value[j*nr:]):])
				}
			}
			kp.N, vp.K = pos+t, pos+t
		}
	})
	kv.S = pos + t
}

// CopyFrom makes the cache kv hold what the cache o holds (both from NewKVCache with the same
// capacity and heads), for beam search's reordering: only the panels o's positions reach.
func (kv *KV) CopyFrom(o *KV) {
	if kv.capacity != o.capacity || len(kv.K) != len(o.K) {
		panic(fmt.Sprintf("tensor: key/value cache of room %d copied from one of %d", kv.capacity, o.capacity))
	}
	for h := range kv.K {
		for _, pair := range [][2]*Packed{{kv.K[h], o.K[h]}, {kv.V[h], o.V[h]}} {
			dst, src := pair[0], pair[1]
			nr := src.kernel.NR
			for k0 := 0; k0 < src.K; k0 += src.kc {
				for j := range panels(src.N, nr) {
					copy(dst.panel(k0, j), src.panel(k0, j))
				}
			}
			dst.N, dst.K = src.N, src.K
		}
	}
	kv.S = o.S
}

// PackKV packs the keys and values of S positions, each head of k and v, once; attention over
// the same keys (cross-attention to an image) then reuses them at every step. Under BFloat16
// they take half float32's memory (prec.KVBytes() == 2), so that a decode step reads half the
// bytes of cached keys and values (BLIP-large: 21 MB instead of 42 of a bfloat16 step's 290):
// where the CPU multiplies bfloat16 pairs they are packed as pairs (for kernels.RowsBF16: on
// AMX CPUs VDPBF16PS, see kvPairs), and ForwardKV rounds q and the attention weights to
// bfloat16 at the two products, as PyTorch's bf16 autocast computes attention; elsewhere they
// are rounded to bfloat16 and stored so, as BFloat16 stores the weights there (see
// halfWeights), and the float32 kernels widen them: float32 attention over the rounded keys
// and values, bit for bit. Float32 and BFloat16x3 pack float32.
func (a *Attention) PackKV(p *Pool, prec Precision, k, v Heads, s int) *KV {
	if bf, ok := prec.kvPairs(); ok {
		return a.packKVPairs(p, bf, k, v, s)
	}
	if prec.halfWeights() {
		return a.packKVHalf(p, k, v, s)
	}
	return a.packKV(p, k, v, s, nil)
}

// packKVHalf is PackKV as bfloat16 for the float32 kernel, into fresh memory.
func (a *Attention) packKVHalf(p *Pool, k, v Heads, s int) *KV {
	kern := kernels.Best()
	return a.packKVEach(p, k, v, s, func(b []float32, n, depth, ldb int, transposed bool) *Packed {
		return packHalf(nil, nil, kern, b, n, depth, ldb, transposed)
	})
}

// packKVPairs is PackKV as bfloat16 pairs for kern, into fresh memory: the keys from their rows,
// the values from theirs read as columns (each word pairing two positions' values).
func (a *Attention) packKVPairs(p *Pool, kern kernels.BF16, k, v Heads, s int) *KV {
	return a.packKVEach(p, k, v, s, func(b []float32, n, depth, ldb int, transposed bool) *Packed {
		return packBF16(nil, nil, kern, b, n, depth, ldb, transposed)
	})
}

// packKVEach packs each head's keys (B [S, HeadDim] from their rows) and values (B [HeadDim,
// S], read from their rows as columns) with pack, heads split over the pool's workers.
func (a *Attention) packKVEach(p *Pool, k, v Heads, s int, pack func(b []float32, n, depth, ldb int, transposed bool) *Packed) *KV {
	kv := &KV{S: s, K: make([]*Packed, a.NumHeads), V: make([]*Packed, a.NumHeads), capacity: s}
	hd := a.HeadDim
	p.ForGrain(a.NumHeads, grainFor(2*s*hd), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			kv.K[h] = pack(k.Data[h*hd:], s, hd, k.Stride, false)
			kv.V[h] = pack(v.Data[h*hd:], hd, s, v.Stride, true)
		}
	})
	return kv
}

// KVBytes is the bytes each cached key or value takes once PackKV has packed it under pr.
func (pr Precision) KVBytes() int64 {
	if _, ok := pr.kvPairs(); ok || pr.halfWeights() {
		return 2
	}
	return 4
}

// kvPairs reports whether PackKV packs bfloat16 pairs under pr, and for which kernel: the one
// for products of a few rows (kernels.RowsBF16; on AMX CPUs AVX512-BF16), because the keys and
// values PackKV packs are read by decode steps' one query (or one a beam) and a prompt's few.
func (pr Precision) kvPairs() (kernels.BF16, bool) {
	_, ok := pr.pairKernel()
	return kernels.RowsBF16(), ok && pr == BFloat16
}

// packKV is PackKV into buf (packedKVSize(s) values), or into fresh memory when buf is nil.
func (a *Attention) packKV(p *Pool, k, v Heads, s int, buf []float32) *KV {
	kv := &KV{S: s, K: make([]*Packed, a.NumHeads), V: make([]*Packed, a.NumHeads), capacity: s}
	hd := a.HeadDim
	kern := kernels.Best()
	kl, vl := packedLen(kern, s, hd), packedLen(kern, hd, s)
	p.ForGrain(a.NumHeads, grainFor(2*s*hd), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			var kd, vd []float32
			if buf != nil {
				kd, vd = buf[h*(kl+vl):][:kl], buf[h*(kl+vl)+kl:][:vl]
			} else {
				kd, vd = make([]float32, kl), make([]float32, vl)
			}
			kv.K[h] = packInto(nil, kd, kern, k.Data[h*hd:], s, hd, k.Stride, false, kcBlock)
			kv.V[h] = packInto(nil, vd, kern, v.Data[h*hd:], hd, s, v.Stride, true, kcBlock)
		}
	})
	return kv
}

// packedKVSize is the number of values the keys and values of s positions take packed.
func (a *Attention) packedKVSize(s int) int {
	kern := kernels.Best()
	return a.NumHeads * (packedLen(kern, s, a.HeadDim) + packedLen(kern, a.HeadDim, s))
}

// queryBlock bounds how many queries attention scores at a time: their scores ([queryBlock, S],
// 144 KiB for BLIP-large's 577 image positions) stay in L2 beside the head's packed keys and
// values while the softmax and the product with the values read them again. A block is a
// whole number of the kernel's tiles (56 queries for 14-row tiles).
const queryBlock = 64

// queryRows is how many queries attention scores at a time: queryBlock, or where Forward
// multiplies bfloat16 tiles (tileKernel) the tile kernel's rows if more (224 for amx-bf16-col,
// whose calls take them all at once): an AMX call costs about a microsecond besides its
// products, and q·kᵀ at depth 64 is one short call a panel of keys. BLIP-large's vision
// attention (BenchmarkAttention, this project's AMX Xeon, one run): 7.6-8.2 ms a layer in
// blocks of 128 or 224 queries, 9.3-9.6 in blocks of 64.
func (a *Attention) queryRows() int {
	if kern, ok := a.tileKernel(); ok {
		return max(queryBlock, kern.MR)
	}
	return queryBlock
}

// kernelRows is the tile height of the kernel that multiplies by the keys.
func (kv *KV) kernelRows() int {
	if len(kv.K) == 0 {
		return 1
	}
	if bf := kv.K[0].bf16; bf != nil {
		return bf.MR
	}
	return kv.K[0].kernel.MR
}

// ScratchSize is the scratch Forward needs for T queries over S keys: ForwardKV's
// (ScratchSizeKV), then the keys and values packed per head (packed into fresh memory instead,
// they were 5.5 MB of garbage a layer of BLIP-large's vision encoder).
func (a *Attention) ScratchSize(p *Pool, t, s int) int {
	if kern, ok := a.tileKernel(); ok {
		return a.ScratchSizeKV(p, t, s) + a.pairsSize(kern, t, s)
	}
	return a.ScratchSizeKV(p, t, s) + a.packedKVSize(s)
}

// ScratchSizeKV is the scratch ForwardKV needs for T queries over S keys: per worker, the
// scores of a block of queries, a copy of their part of q (or its bfloat16 pairs) and, over
// bfloat16 pairs, the scores' pairs.
func (a *Attention) ScratchSizeKV(p *Pool, t, s int) int {
	qb := min(t, a.queryRows())
	return p.Size() * qb * (unaliased(s) + unaliased(a.HeadDim) + unaliased((s+1)/2))
}

// Forward computes dst[T, NumHeads*HeadDim] = softmax(Scale·q·kᵀ)·v per head for one sequence,
// with q of T rows and k, v of S rows, in a.Precision (see tileKernel). scratch must hold
// a.ScratchSize(p, T, S) values.
func (a *Attention) Forward(p *Pool, dst, q, k, v Heads, t, s int, scratch []float32) {
	if need := a.ScratchSize(p, t, s); len(scratch) < need {
		panic(fmt.Sprintf("tensor: attention scratch %d < %d", len(scratch), need))
	}
	block := a.ScratchSizeKV(p, t, s)
	if kern, ok := a.tileKernel(); ok {
		a.forwardTiles(p, kern, dst, q, k, v, t, s, scratch[:block], float32Bits(scratch[block:]))
		return
	}
	a.ForwardKV(p, dst, q, a.packKV(p, k, v, s, scratch[block:]), t, scratch[:block])
}

// ForwardKV is Forward over keys and values packed by PackKV. The work is split over heads and
// blocks of queryBlock queries; each block's scores go through the softmax and the product with
// the values while they are still in cache, and every output element is summed in the same
// order as one product over all queries would sum it.
func (a *Attention) ForwardKV(p *Pool, dst, q Heads, kv *KV, t int, scratch []float32) {
	a.forwardKV(p, dst, q, nil, 0, kv, t, scratch)
}

// forwardKV is ForwardKV, reading q's bfloat16 pairs from qw (row stride lqw words: head h's
// at qw[i*lqw+h*HeadDim/2]) where qw is not nil and kv holds pairs, instead of rounding q.
func (a *Attention) forwardKV(p *Pool, dst, q Heads, qw []uint32, lqw int, kv *KV, t int, scratch []float32) {
	s := kv.S
	if need := a.ScratchSizeKV(p, t, s); len(scratch) < need {
		panic(fmt.Sprintf("tensor: attention scratch %d < %d", len(scratch), need))
	}
	if a.Causal && s < t {
		panic(fmt.Sprintf("tensor: causal attention with %d queries over %d keys", t, s))
	}
	if t == 0 {
		return
	}
	hd := a.HeadDim
	qb := min(t, a.queryRows())
	ls, lq, lsp := unaliased(s), unaliased(hd), unaliased((s+1)/2)
	per := qb * (ls + lq + lsp) // each worker's part of scratch
	// Over bfloat16 pairs, q's rows and the attention weights are rounded straight into the
	// worker's scratch, which the kernel reads as they are (q's pairs where float32 keeps its
	// copy of q), rather than MatMul rounding them into memory of its own at every call.
	pairs := len(kv.K) > 0 && kv.K[0].bf16 != nil
	if mr := kv.kernelRows(); qb > mr {
		qb -= qb % mr
	}
	blocks := (t + qb - 1) / qb
	split := p.ForWorkers // a decode step's query, a prompt's few: an equal share each
	if blocks > 1 {
		split = p.forBalanced
	}
	split(a.NumHeads*blocks, grainFor(2*min(qb, t)*s*hd), func(worker, lo, hi int) {
		scores := scratch[worker*per:][:qb*ls]
		qh := scratch[worker*per+qb*ls:][:qb*lq]
		qp, sp := float32Bits(qh), float32Bits(scratch[worker*per+qb*(ls+lq):][:qb*lsp])
		for it := lo; it < hi; it++ {
			h, i0 := it/blocks, it%blocks*qb
			rows := min(qb, t-i0)
			off := h * hd
			if pairs && qw != nil {
				kv.K[h].matMulPairs(nil, scores, ls, qw[i0*lqw+off/2:], lqw, rows, Epilogue{})
			} else if pairs {
				for i := 0; i < rows; i++ {
					kernels.ToBF16Pairs(qp[i*lq:][:(hd+1)/2], q.Data[(i0+i)*q.Stride+off:][:hd])
				}
				kv.K[h].matMulPairs(nil, scores, ls, qp, lq, rows, Epilogue{})
			} else {
				for i := 0; i < rows; i++ {
					copy(qh[i*lq:i*lq+hd], q.Data[(i0+i)*q.Stride+off:])
				}
				kv.K[h].MatMul(nil, scores, ls, qh, lq, rows)
			}
			for i := 0; i < rows; i++ {
				row := scores[i*ls : i*ls+s]
				seen := s
				if a.Causal {
					seen = s - t + i0 + i + 1
				}
				ScaledSoftmax(row[:seen], a.Scale)
				clear(row[seen:])
				if pairs {
					kernels.ToBF16Pairs(sp[i*lsp:][:(s+1)/2], row)
				}
			}
			if pairs {
				kv.V[h].matMulPairs(nil, dst.Data[i0*dst.Stride+off:], dst.Stride, sp, lsp, rows, Epilogue{})
			} else {
				kv.V[h].MatMul(nil, dst.Data[i0*dst.Stride+off:], dst.Stride, scores, ls, rows)
			}
		}
	})
}
