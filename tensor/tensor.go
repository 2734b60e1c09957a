// Package tensor holds blipgo's one tensor type and the kernels that the vision encoder and the
// text decoder are built from.
//
// # Layout
//
// A Tensor is a dense row-major array of float32 with a shape. Element (i0, i1, ..., in) of a
// tensor of shape (d0, d1, ..., dn) is at Data[((i0*d1+i1)*d2+...)*dn+in]. Views made by Row and
// SliceRows share Data with the tensor they come from.
//
// # Kernels
//
// Every kernel writes into a destination the caller owns (dst = f(x)). Kernels that split work
// across goroutines take a *Pool, whose size bounds the parallelism. Shapes are checked with
// panics: a shape mismatch inside the engine is a programmer error, not bad input (bad input is
// rejected with errors long before it reaches a kernel).
//
// # Matrix products
//
// A Linear layer's weight is packed once (Prepare) into panels for the register-blocked
// micro-kernels of internal/kernels: AVX-512 or AVX2 Go assembly on amd64, chosen once at start
// from the CPU's features, and their pure-Go twins elsewhere or with -tags noasm. Packed weights
// can live in an Arena, outside the Go heap. The opt-in BFloat16 precision uses AVX512-BF16
// where present. Per call, MatMul only allocates a copy of a tall A whose row stride would
// thrash L1 (on CPUs where the copy pays: kernels.Kernel.InPlaceA), and attention packs its
// keys and values per head (cross-attention packs them once, PackKV: as bfloat16 pairs under
// BFloat16; a decoder's self-attention packs each new position once into a cache laid out for
// its capacity, NewKVCache and Put).
package tensor

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// Tensor is a dense row-major float32 array. The zero value is an empty tensor.
//
// A Tensor whose Data is nil but whose Shape is set is a declaration: the weight binder fills
// such tensors from a checkpoint after checking their shapes.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// Declare returns a tensor with a shape and no data, for the weight binder to fill.
func Declare(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...)}
}

// FromData wraps data in a tensor of the given shape; it panics if the sizes differ.
func FromData(data []float32, shape ...int) *Tensor {
	if Numel(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Numel is the number of elements of a tensor of the given shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements of t.
func (t *Tensor) Len() int { return Numel(t.Shape) }

// Cols is the size of the last axis.
func (t *Tensor) Cols() int { return t.Shape[len(t.Shape)-1] }

// Rows is the product of every axis but the last: the number of rows of t seen as a matrix.
func (t *Tensor) Rows() int { return Numel(t.Shape[:len(t.Shape)-1]) }

// Row returns row i of t seen as a [Rows, Cols] matrix; it shares Data.
func (t *Tensor) Row(i int) []float32 {
	c := t.Cols()
	return t.Data[i*c : (i+1)*c]
}

// SliceRows returns rows [lo, hi) of t seen as a [Rows, Cols] matrix, as a [hi-lo, Cols] view.
func (t *Tensor) SliceRows(lo, hi int) *Tensor {
	c := t.Cols()
	return &Tensor{Shape: []int{hi - lo, c}, Data: t.Data[lo*c : hi*c]}
}

// String describes the shape, not the values.
func (t *Tensor) String() string { return fmt.Sprintf("tensor%v", t.Shape) }

// finiteBlock is how many values FirstNonFinite checks at a time (256 KiB), and the least a
// worker of Pool.CheckFinite checks.
const finiteBlock = 1 << 16

// FirstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
func FirstNonFinite(x []float32) int {
	// Blocks go through the vector kernel, which checking every weight of a checkpoint at
	// load streams at memory speed; only a block that holds a non-finite value is scanned
	// again for its index.
	for b := 0; b < len(x); b += finiteBlock {
		chunk := x[b:min(b+finiteBlock, len(x))]
		if kernels.MaxExponent(chunk) != approx.ExponentField {
			continue
		}
		for j, v := range chunk {
			if math.Float32bits(v)&approx.ExponentField == approx.ExponentField {
				return b + j
			}
		}
	}
	return -1
}

// NonFiniteError reports a NaN or an infinity where a model computes (or reads) only finite
// values: a corrupt checkpoint, or weights whose activations overflow float32.
type NonFiniteError struct {
	Where string // "vision layer 3", "decoder logits at position 5"
	Index int    // the first non-finite value's index in its tensor
	Value float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("%s: %v at index %d (non-finite values: corrupt or overflowing weights)", e.Where, e.Value, e.Index)
}

// CheckFinite returns a *NonFiniteError naming where when x holds a NaN or an infinity.
func CheckFinite(where string, x []float32) error { return nonFiniteAt(where, x, FirstNonFinite(x)) }

// CheckFinite is CheckFinite with x split across the pool's workers, for a checkpoint's
// weights at load, which one core reads slower than the memory delivers them. The error
// names the first non-finite index, as the single-threaded check does.
func (p *Pool) CheckFinite(where string, x []float32) error {
	if p.Size() == 1 || len(x) <= finiteBlock {
		return CheckFinite(where, x)
	}
	var first atomic.Int64 // the least non-finite index found so far; len(x) for none
	first.Store(int64(len(x)))
	p.forBalanced(len(x), finiteBlock, func(_, lo, hi int) {
		i := FirstNonFinite(x[lo:hi])
		for i >= 0 {
			old := first.Load()
			if int64(lo+i) >= old || first.CompareAndSwap(old, int64(lo+i)) {
				return
			}
		}
	})
	i := int(first.Load())
	if i == len(x) {
		i = -1
	}
	return nonFiniteAt(where, x, i)
}

// nonFiniteAt is the *NonFiniteError for x[i], or nil when i < 0.
func nonFiniteAt(where string, x []float32, i int) error {
	if i < 0 {
		return nil
	}
	return &NonFiniteError{Where: where, Index: i, Value: x[i]}
}
