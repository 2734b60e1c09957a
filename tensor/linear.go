package tensor

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// Linear is a fully connected layer y = x·Wᵀ + b. Weight is [Out, In], as PyTorch's nn.Linear
// stores it, or [Out, ...] for a convolution applied as a product (In is then the product of
// the trailing axes); Bias is [Out].
//
// Prepare packs Weight once for the matrix-product kernel and drops the layer's reference to
// the unpacked values; a layer used before Prepare packs on every call.
type Linear struct {
	Weight *Tensor `weights:"weight"`
	Bias   *Tensor `weights:"bias"`

	packed *Packed
}

// NewLinear declares a linear layer from in to out features, for the weight binder to fill.
func NewLinear(in, out int) Linear {
	return Linear{Weight: Declare(out, in), Bias: Declare(out)}
}

// In is the number of input features.
func (l *Linear) In() int {
	if l.packed != nil {
		return l.packed.K
	}
	return l.Weight.Len() / l.Weight.Shape[0]
}

// Bytes is the memory the layer's weights and bias take (packed, once prepared): what a
// product over a few rows reads.
func (l *Linear) Bytes() int64 {
	var n int64 // bytes
	if l.packed != nil {
		n = 4*int64(len(l.packed.data)+len(l.packed.words)) + 2*int64(len(l.packed.half))
	} else if l.Weight != nil {
		n = 4 * int64(len(l.Weight.Data))
	}
	if l.Bias != nil {
		n += 4 * int64(len(l.Bias.Data))
	}
	return n
}

// WeightRow copies row n of the weight, [In], into dst, from the packed panels once prepared;
// it reports false when they do not hold the float32 values (a BFloat16 layer). A table tied
// to the weight (word embeddings tied to a language-model head) can so be read from the
// packed copy instead of being kept twice.
func (l *Linear) WeightRow(n int, dst []float32) bool {
	if l.packed == nil {
		if l.Weight == nil || l.Weight.Data == nil || n < 0 || n >= l.Out() {
			return false
		}
		copy(dst, l.Weight.Row(n))
		return true
	}
	return l.packed.row(n, dst)
}

// Out is the number of output features.
func (l *Linear) Out() int { return l.Weight.Shape[0] }

// Prepare packs the weight for products in the given precision, into the arena (the Go heap
// when nil); done, when not nil, receives the unpacked values the layer no longer needs (a
// loader can release their memory).
func (l *Linear) Prepare(p *Pool, arena *Arena, prec Precision, done func([]float32)) {
	if l.packed != nil {
		return
	}
	w := l.Weight.Data
	switch bf, ok := prec.pairKernel(); {
	case ok && prec == BFloat16:
		l.packed = packBF16(p, arena, bf, w, l.Out(), l.In(), l.In(), false)
	case ok:
		l.packed = packSplit(p, arena, bf, w, l.Out(), l.In(), l.In())
	case prec.halfWeights():
		l.packed = packHalf(p, arena, kernels.Best(), w, l.Out(), l.In(), l.In(), false)
	default:
		l.packed = pack(p, arena, kernels.Best(), w, l.Out(), l.In(), l.In(), false)
	}
	l.Weight.Data = nil
	if done != nil {
		done(w)
	}
}

// Forward computes dst[M, Out] = x[M, In]·Wᵀ + b for every row of x.
func (l *Linear) Forward(p *Pool, dst, x *Tensor) { l.forward(p, dst, x, false, false) }

// ForwardGELU computes dst = GELU(x·Wᵀ + b), the activation fused into the product.
func (l *Linear) ForwardGELU(p *Pool, dst, x *Tensor) { l.forward(p, dst, x, false, true) }

// ForwardAdd computes dst += x·Wᵀ + b: a residual connection fused into the product.
func (l *Linear) ForwardAdd(p *Pool, dst, x *Tensor) { l.forward(p, dst, x, true, false) }

func (l *Linear) forward(p *Pool, dst, x *Tensor, accumulate, gelu bool) {
	m, in, out := x.Rows(), l.In(), l.Out()
	if x.Cols() != in || dst.Cols() != out || dst.Rows() != m {
		panic(fmt.Sprintf("tensor: linear %dx%d: x %v, dst %v", out, in, x.Shape, dst.Shape))
	}
	pm := l.packed
	if pm == nil {
		pm = Pack(p, l.Weight.Data, out, in, in, false)
	}
	ep := Epilogue{Accumulate: accumulate, GELU: gelu}
	if l.Bias != nil {
		ep.Bias = l.Bias.Data
	}
	pm.MatMulEpilogue(p, dst.Data, out, x.Data, in, m, ep)
}

// AddInPlace adds src to dst element-wise: dst[i] += src[i].
func AddInPlace(dst, src []float32) {
	kernels.Add(dst, src)
}
