package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imagesemantics/blipgo/internal/panics"
	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// TestKernelNames: each precision names the kernel its products run on this CPU: float32's
// best for Float32; for BFloat16 the bfloat16 kernel where the CPU multiplies pairs (its name
// plus "x3" for BFloat16x3), or the float32 kernel with bfloat16 weights where it stores them.
func TestKernelNames(t *testing.T) {
	f32, bf := kernels.Best().Name, kernels.BestBF16()
	if got := Float32.Kernel(); got != f32 {
		t.Errorf("Float32 runs %q, want %q", got, f32)
	}
	switch {
	case !bf.Emulated:
		if got := BFloat16.Kernel(); got != bf.Name {
			t.Errorf("BFloat16 runs %q, want %q", got, bf.Name)
		}
		if got := BFloat16x3.Kernel(); got != bf.Name+"x3" {
			t.Errorf("BFloat16x3 runs %q, want %q", got, bf.Name+"x3")
		}
	case BFloat16.halfWeights():
		if got := BFloat16.Kernel(); !strings.HasPrefix(got, f32+" (bfloat16 weights") {
			t.Errorf("BFloat16 runs %q, want %s with bfloat16 weights", got, f32)
		}
	}
	if Float32.pairs() || !BFloat16.pairs() || !BFloat16x3.pairs() {
		t.Errorf("pairs: float32 %v, bfloat16 %v, bfloat16x3 %v", Float32.pairs(), BFloat16.pairs(), BFloat16x3.pairs())
	}
}

// TestPackKVFloat32: Float32 and BFloat16x3 pack cached keys and values as float32 (4 bytes
// each), and attention over them is Forward's to the bit.
func TestPackKVFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const s, tq, heads, hd = 19, 5, 2, 8
	d := heads * hd
	a := Attention{NumHeads: heads, HeadDim: hd, Scale: 0.3}
	q, k, v := randSlice(r, tq*d), randSlice(r, s*d), randSlice(r, s*d)
	p := NewPool(2)
	want := make([]float32, tq*d)
	a.Forward(p, Heads{want, d}, Heads{q, d}, Heads{k, d}, Heads{v, d}, tq, s, make([]float32, a.ScratchSize(p, tq, s)))
	for _, prec := range []Precision{Float32, BFloat16x3} {
		if prec.KVBytes() != 4 {
			t.Errorf("%s: %d bytes a cached value, want 4", prec, prec.KVBytes())
		}
		kv := a.PackKV(p, prec, Heads{k, d}, Heads{v, d}, s)
		if kv.K[0].bf16 != nil || kv.K[0].half != nil {
			t.Errorf("%s: keys packed as bfloat16", prec)
		}
		got := make([]float32, tq*d)
		a.ForwardKV(p, Heads{got, d}, Heads{q, d}, kv, tq, make([]float32, a.ScratchSize(p, tq, s)))
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: [%d] %v, Forward %v", prec, i, got[i], want[i])
			}
		}
	}
}

// TestMatMulNoDepth: a product over K = 0 writes the bias (zeros without one) into the m rows
// of C and nothing past them, or adds the bias to C when accumulating.
func TestMatMulNoDepth(t *testing.T) {
	const m, n = 3, 5
	pm := Pack(nil, nil, n, 0, 0, false)
	bias := []float32{1, 2, 3, 4, 5}
	for _, acc := range []bool{false, true} {
		full, c := guarded(m*n, 4)
		start := append([]float32(nil), c...)
		pm.MatMulEpilogue(nil, c, n, nil, 0, m, Epilogue{Bias: bias, Accumulate: acc})
		checkGuards(t, full, 4)
		for i, got := range c {
			want := bias[i%n]
			if acc {
				want += start[i]
			}
			if got != want {
				t.Fatalf("accumulate %v: [%d] %v, want %v", acc, i, got, want)
			}
		}
	}
}

// TestMatMulShapes: a product whose A, C or bias is too short for its shape panics naming the
// shape, each on its own.
func TestMatMulShapes(t *testing.T) {
	const m, k, n = 4, 6, 5
	pm := Pack(nil, make([]float32, n*k), n, k, k, false)
	a, c := make([]float32, m*k), make([]float32, m*n)
	for name, f := range map[string]func(){
		"short a":    func() { pm.MatMul(nil, c, n, a[:len(a)-1], k, m) },
		"short c":    func() { pm.MatMul(nil, c[:len(c)-1], n, a, k, m) },
		"short bias": func() { pm.MatMulEpilogue(nil, c, n, a, k, m, Epilogue{Bias: make([]float32, n-1)}) },
	} {
		if !panics.With(f, "tensor: matmul 4x6x5") {
			t.Errorf("%s: no panic naming the product", name)
		}
	}
	if panics.With(func() { pm.MatMulEpilogue(nil, c, n, a, k, m, Epilogue{Bias: make([]float32, n)}) }, "") {
		t.Error("exact lengths refused")
	}
}

// TestWeightRowBounds: rows 0 to Out-1 of a layer read back as they were before Prepare too
// (TestWeightRow has the packed ones); rows outside, and a weight without data, report false,
// packed or not.
func TestWeightRowBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const in, out = 7, 37
	w := randSlice(r, out*in)
	l := Linear{Weight: FromData(append([]float32(nil), w...), out, in), Bias: FromData(make([]float32, out), out)}
	dst := make([]float32, in)
	for _, n := range []int{0, out - 1} {
		if !l.WeightRow(n, dst) || dst[0] != w[n*in] || dst[in-1] != w[n*in+in-1] {
			t.Errorf("unpacked row %d: %v", n, dst)
		}
	}
	for _, prepared := range []bool{false, true} {
		if prepared {
			l.Prepare(NewPool(1), nil, Float32, nil)
		}
		for _, n := range []int{-1, out} {
			if l.WeightRow(n, dst) {
				t.Errorf("prepared %v: row %d read", prepared, n)
			}
		}
	}
	if (&Linear{Weight: Declare(out, in)}).WeightRow(0, dst) {
		t.Error("a weight without data read")
	}
}

// TestLinearBytes: a layer's bytes are its weight and bias in float32 before Prepare, at least
// that after a float32 Prepare (panels padded to the kernel's width), and fewer in bfloat16
// where the CPU multiplies pairs or stores bfloat16 weights.
func TestLinearBytes(t *testing.T) {
	const in, out = 64, 40
	newLinear := func(bias bool) *Linear {
		l := &Linear{Weight: FromData(make([]float32, out*in), out, in)}
		if bias {
			l.Bias = FromData(make([]float32, out), out)
		}
		return l
	}
	if got := newLinear(true).Bytes(); got != 4*(out*in+out) {
		t.Errorf("unpacked with bias: %d bytes, want %d", got, 4*(out*in+out))
	}
	if got := newLinear(false).Bytes(); got != 4*out*in {
		t.Errorf("unpacked without bias: %d bytes, want %d", got, 4*out*in)
	}
	f := newLinear(true)
	f.Prepare(NewPool(1), nil, Float32, nil)
	if got := f.Bytes(); got < 4*(out*in+out) {
		t.Errorf("float32 packed: %d bytes, fewer than %d", got, 4*(out*in+out))
	}
	if BFloat16.Kernel() != Float32.Kernel() {
		b := newLinear(true)
		b.Prepare(NewPool(1), nil, BFloat16, nil)
		if got := b.Bytes(); got >= f.Bytes() || got < 2*out*in {
			t.Errorf("bfloat16 packed: %d bytes, float32 %d", got, f.Bytes())
		}
	}
}

// TestShapePanics: a linear layer or a layer norm given tensors of another shape panics naming
// them, whichever dimension is off.
func TestShapePanics(t *testing.T) {
	const m, in, out = 3, 4, 5
	l := Linear{Weight: FromData(make([]float32, out*in), out, in), Bias: FromData(make([]float32, out), out)}
	ln := NewLayerNorm(in, 1e-5)
	ln.Weight.Data, ln.Bias.Data = make([]float32, in), make([]float32, in)
	for name, f := range map[string]func(){
		"linear x":       func() { l.Forward(nil, New(m, out), New(m, in+1)) },
		"linear dst":     func() { l.Forward(nil, New(m, out+1), New(m, in)) },
		"linear rows":    func() { l.Forward(nil, New(m+1, out), New(m, in)) },
		"layer norm x":   func() { ln.Forward(nil, New(m, in+1), New(m, in+1)) },
		"layer norm dst": func() { ln.Forward(nil, New(m+1, in), New(m, in)) },
	} {
		want := "tensor: linear"
		if strings.HasPrefix(name, "layer norm") {
			want = "tensor: layer norm"
		}
		if !panics.With(f, want) {
			t.Errorf("%s: no panic saying %q", name, want)
		}
	}
}

// TestArena: the arena hands out zeroed, writable buffers of the length asked (none for 0),
// and frees them all.
func TestArena(t *testing.T) {
	a := NewArena()
	if b := a.Alloc(0); b != nil {
		t.Errorf("Alloc(0) gave %d values", len(b))
	}
	for _, n := range []int{1, 1000, 1 << 20} {
		b := a.Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d) gave %d values", n, len(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("Alloc(%d)[%d] = %v", n, i, v)
			}
		}
		b[0], b[n-1] = 1, 2
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(); err != nil {
		t.Errorf("second Free: %v", err)
	}
}

// TestPoolEdges: NewPool(0) has GOMAXPROCS workers; For over nothing calls nothing; ForGrain
// covers [0, n) once in no more chunks than whole grains allow.
func TestPoolEdges(t *testing.T) {
	if got := NewPool(0).Size(); got != runtime.GOMAXPROCS(0) {
		t.Errorf("NewPool(0) has %d workers, want %d", got, runtime.GOMAXPROCS(0))
	}
	p := NewPool(4)
	p.For(0, func(lo, hi int) { t.Errorf("called over [%d, %d) of nothing", lo, hi) })
	for _, c := range []struct{ n, grain int }{{1, 1}, {3, 2}, {7, 3}, {8, 2}, {100, 30}} {
		var covered, chunks atomic.Int64
		p.ForGrain(c.n, c.grain, func(lo, hi int) {
			covered.Add(int64(hi - lo))
			chunks.Add(1)
		})
		if most := int64((c.n + c.grain - 1) / c.grain); covered.Load() != int64(c.n) || chunks.Load() > most {
			t.Errorf("n %d grain %d: %d items in %d chunks (at most %d)", c.n, c.grain, covered.Load(), chunks.Load(), most)
		}
	}
}

// TestKVCacheRefusals: Put refuses positions before the cache's start, past what it holds (a
// gap), past its room, or heads it was not made for; CopyFrom refuses a cache of another room
// or other heads. Each panics naming the cache, and leaves it as it was.
func TestKVCacheRefusals(t *testing.T) {
	const heads, hd, room = 2, 4, 6
	a := Attention{NumHeads: heads, HeadDim: hd, Scale: 0.5}
	kv := make([]float32, room*heads*hd)
	x := Heads{kv, heads * hd}
	cache := a.NewKVCache(room)
	a.Put(nil, cache, 0, x, x, 2)
	other := Attention{NumHeads: heads + 1, HeadDim: hd}
	const put, copied = "tensor: positions", "tensor: key/value cache"
	for name, c := range map[string]struct {
		f    func()
		want string
	}{
		"before the start":     {func() { a.Put(nil, cache, -1, x, x, 1) }, put},
		"a gap":                {func() { a.Put(nil, cache, 3, x, x, 1) }, put},
		"past the room":        {func() { a.Put(nil, cache, 2, x, x, room-1) }, put},
		"other heads":          {func() { other.Put(nil, cache, 2, x, x, 1) }, put},
		"copy of another room": {func() { cache.CopyFrom(a.NewKVCache(room + 1)) }, copied},
		"copy of other heads":  {func() { cache.CopyFrom(other.NewKVCache(room)) }, copied},
	} {
		if !panics.With(c.f, c.want) {
			t.Errorf("%s: no panic saying %q", name, c.want)
		}
		if cache.S != 2 || cache.K[0].N != 2 || cache.V[0].K != 2 {
			t.Errorf("%s: the cache holds %d positions (keys %d, values %d), want 2", name, cache.S, cache.K[0].N, cache.V[0].K)
		}
	}
	a.Put(nil, cache, 2, x, x, room-2) // exactly the room: fine
	if cache.S != room {
		t.Errorf("filled to its room: %d positions, want %d", cache.S, room)
	}
}
