package tensor

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Heads is a strided view of a matrix whose columns hold several attention heads side by side:
// element d of head h in row r is at Data[r*Stride + h*HeadDim + d]. It lets attention read q, k
// and v straight out of a fused projection without copying them apart.
type Heads struct {
	Data   []float32
	Stride int
}

// Attention holds the shape of a multi-head attention and its scratch space.
type Attention struct {
	NumHeads, HeadDim int
	// Scale multiplies q·kᵀ before the softmax (1/√HeadDim).
	Scale float32
	// Causal masks keys after each query: with T queries over S keys, query i sees keys
	// [0, S-T+i] (the newest T keys are the queries' own positions).
	Causal bool
}

// Forward computes dst[T, NumHeads*HeadDim] = softmax(Scale·q·kᵀ)·v per head for one sequence,
// with q of T rows and k, v of S rows. scratch must hold at least pool.Size()*T*S values.
func (a *Attention) Forward(p *Pool, dst, q, k, v Heads, T, S int, scratch []float32) {
	if need := p.Size() * T * S; len(scratch) < need {
		panic(fmt.Sprintf("tensor: attention scratch %d < %d", len(scratch), need))
	}
	if a.Causal && S < T {
		panic(fmt.Sprintf("tensor: causal attention with %d queries over %d keys", T, S))
	}
	impl := blas32.Implementation()
	hd := a.HeadDim
	workers := min(p.Size(), a.NumHeads)
	per := (a.NumHeads + workers - 1) / workers
	p.ForGrain(a.NumHeads, per, func(lo, hi int) {
		scores := scratch[(lo/per)*T*S : (lo/per+1)*T*S]
		for h := lo; h < hi; h++ {
			off := h * hd
			impl.Sgemm(blas.NoTrans, blas.Trans, T, S, hd, a.Scale, q.Data[off:], q.Stride, k.Data[off:], k.Stride, 0, scores, S)
			for i := 0; i < T; i++ {
				row := scores[i*S : (i+1)*S]
				if a.Causal {
					seen := S - T + i + 1
					Softmax(row[:seen])
					clear(row[seen:])
				} else {
					Softmax(row)
				}
			}
			impl.Sgemm(blas.NoTrans, blas.NoTrans, T, hd, S, 1, scores, S, v.Data[off:], v.Stride, 0, dst.Data[off:], dst.Stride)
		}
	})
}
