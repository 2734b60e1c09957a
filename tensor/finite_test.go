package tensor

import (
	"errors"
	"math"
	"testing"
)

// TestFirstNonFinite finds the first NaN or infinity at block edges and tails, and never
// flags the largest finite values.
func TestFirstNonFinite(t *testing.T) {
	for _, n := range []int{1, 3, 15, 16, 17, 1000, 1<<16 - 1, 1 << 16, 1<<16 + 17} { // round a vector and a block
		for _, at := range []int{0, n / 2, max(n-18, 0), n - 1} {
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(i) - math.MaxFloat32*float32(i%2)
				}
				if i := FirstNonFinite(x); i != -1 {
					t.Fatalf("n %d: finite value %v flagged at %d", n, x[i], i)
				}
				x[at], x[min(at+1, n-1)] = v, v
				if got := FirstNonFinite(x); got != at {
					t.Fatalf("n %d, %v at %d: found at %d", n, v, at, got)
				}
			}
		}
	}
	var nf *NonFiniteError
	if err := CheckFinite("here", []float32{1, float32(math.Inf(1))}); !errors.As(err, &nf) || nf.Index != 1 || nf.Where != "here" {
		t.Errorf("CheckFinite: %v", err)
	}
}

// TestPoolCheckFinite: split across workers, the check still names the first non-finite
// value of the whole slice, wherever the workers' ranges fall and whichever finishes first.
func TestPoolCheckFinite(t *testing.T) {
	n := 5*finiteBlock + 123
	x := make([]float32, n)
	for _, p := range []*Pool{nil, NewPool(1), NewPool(2), NewPool(7)} {
		clear(x)
		if err := p.CheckFinite("x", x); err != nil {
			t.Fatalf("pool of %d, all finite: %v", p.Size(), err)
		}
		for _, first := range []int{0, finiteBlock - 1, finiteBlock, 2*finiteBlock + 5, n/2 + 1, n - 1} {
			clear(x)
			x[first] = float32(math.Inf(-1))
			for _, later := range []int{first + 1, first + finiteBlock, n - 1} { // in the same worker's range and in later ones
				if later > first && later < n {
					x[later] = float32(math.NaN())
				}
			}
			var nf *NonFiniteError
			if err := p.CheckFinite("x", x); !errors.As(err, &nf) || nf.Index != first || nf.Where != "x" || !math.IsInf(float64(nf.Value), -1) {
				t.Fatalf("pool of %d, first at %d: %v", p.Size(), first, err)
			}
		}
	}
}

func BenchmarkFirstNonFinite(b *testing.B) {
	x := make([]float32, 1<<24)
	for i := range x {
		x[i] = float32(i)
	}
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		if FirstNonFinite(x) != -1 {
			b.Fatal("finite value flagged")
		}
	}
}
