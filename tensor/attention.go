package tensor

import (
	"fmt"
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
}

// KV is the keys and values of S positions packed per head for the matrix-product kernel:
// K[h] is [S, HeadDim] (so q·kᵀ is a product with it), V[h] is its values transposed.
type KV struct {
	S    int
	K, V []*Packed
}

// PackKV packs the keys and values of S positions, each head of k and v, once; attention over
// the same keys (cross-attention to an image) then reuses them at every step.
func (a *Attention) PackKV(p *Pool, k, v Heads, s int) *KV {
	kv := &KV{S: s, K: make([]*Packed, a.NumHeads), V: make([]*Packed, a.NumHeads)}
	hd := a.HeadDim
	p.For(a.NumHeads, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			kv.K[h] = Pack(nil, k.Data[h*hd:], s, hd, k.Stride, false)
			kv.V[h] = Pack(nil, v.Data[h*hd:], hd, s, v.Stride, true)
		}
	})
	return kv
}

// ScratchSize is the scratch Forward needs for T queries over S keys.
func ScratchSize(p *Pool, t, s int) int { return p.Size() * t * s }

// Forward computes dst[T, NumHeads*HeadDim] = softmax(Scale·q·kᵀ)·v per head for one sequence,
// with q of T rows and k, v of S rows. scratch must hold ScratchSize(p, T, S) values.
func (a *Attention) Forward(p *Pool, dst, q, k, v Heads, t, s int, scratch []float32) {
	a.ForwardKV(p, dst, q, a.PackKV(p, k, v, s), t, scratch)
}

// ForwardKV is Forward over keys and values packed by PackKV.
func (a *Attention) ForwardKV(p *Pool, dst, q Heads, kv *KV, t int, scratch []float32) {
	s := kv.S
	if need := ScratchSize(p, t, s); len(scratch) < need {
		panic(fmt.Sprintf("tensor: attention scratch %d < %d", len(scratch), need))
	}
	if a.Causal && s < t {
		panic(fmt.Sprintf("tensor: causal attention with %d queries over %d keys", t, s))
	}
	hd := a.HeadDim
	p.ForWorkers(a.NumHeads, 1, func(worker, lo, hi int) {
		scores := scratch[worker*t*s : (worker+1)*t*s]
		for h := lo; h < hi; h++ {
			off := h * hd
			kv.K[h].MatMul(nil, scores, s, q.Data[off:], q.Stride, t)
			for i := 0; i < t; i++ {
				row := scores[i*s : (i+1)*s]
				seen := s
				if a.Causal {
					seen = s - t + i + 1
				}
				ScaledSoftmax(row[:seen], a.Scale)
				clear(row[seen:])
			}
			kv.V[h].MatMul(nil, dst.Data[off:], dst.Stride, scores, s, t)
		}
	})
}
