package tensor

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels"
)

// kcBlock is the depth of one pass over K: a kcBlock×NR panel of B (32 KiB for AVX-512) stays in
// L1 while the rows of A (M×kcBlock) stream from L2. On 2 cores of the AMD EPYC Zen 5 depths
// from 128 to 512 all gave 430-480 GFLOP/s at the vision encoder's shapes
// (BenchmarkMatMulDepth); on 2 cores of the device machine's Xeon 254-282 at 577x1024x4096 and
// 180-192 at 577x4096x1024, flat too.
const kcBlock = 256

// aliasing reports whether rows stride float32 values apart fall in the same few L1 sets: a
// stride that is a multiple of 2 KiB.
func aliasing(stride int) bool { return stride*4%2048 == 0 }

// unaliased is a row stride of at least n values that is not a multiple of 2 KiB, so that the
// rows of a tile do not share L1 sets (MatMul would otherwise copy them apart first).
func unaliased(n int) int {
	if aliasing(n) {
		return n + 16
	}
	return n
}

// Packed is a matrix B of N rows and K columns (a weight [out, in], or keys of attention)
// repacked once for the micro-kernel: for each block of kc (kcBlock) columns of K, for each panel
// of NR rows of N, kc×NR values stored k-major, zero-padded past N. MatMul then computes
// C = A·Bᵀ.
type Packed struct {
	N, K   int
	kernel kernels.Kernel
	data   []float32
	kc     int // the depth of data's passes over K (kcBlock)
	// layoutN and layoutK are the shape data's panels are laid out for: N and K, or more for
	// the keys and values of a cache that grows in place (Attention.NewKVCache), whose N or K
	// grow while every value already packed stays where it is (see panelOffset).
	layoutN, layoutK int
	// half replaces data for a BFloat16 layer on a CPU without bfloat16 products: data's
	// panels rounded to bfloat16, widened back to float32 as products read them (see
	// packHalf).
	half []uint16
	// bf16 and words replace kernel and data for a BFloat16 layer: passes of block pairs of k,
	// each over blocks of rows of A of about rowBytes bytes of bfloat16 pairs.
	bf16            *kernels.BF16
	words           []uint32
	block, rowBytes int
	// split, for a BFloat16x3 layer, is the bfloat16 kernel that tall products use; kernel
	// (of the same NR) and data serve the rest.
	split *kernels.BF16
	// transposed is set when B was packed from columns (B[n, k] = b[k*ldb+n]).
	transposed bool
}

func panels(n, nr int) int { return (n + nr - 1) / nr }

// Pack repacks B for the fastest kernel, into the Go heap. b is read as B[n, k] = b[n*ldb+k], or, when
// transposed, B[n, k] = b[k*ldb+n] (a [K, N] matrix such as attention values). Packing runs
// on the pool's workers.
func Pack(p *Pool, b []float32, n, k, ldb int, transposed bool) *Packed {
	return pack(p, nil, kernels.Best(), b, n, k, ldb, transposed)
}

func pack(p *Pool, arena *Arena, kern kernels.Kernel, b []float32, n, k, ldb int, transposed bool) *Packed {
	return packDepth(p, arena, kern, b, n, k, ldb, transposed, kcBlock)
}

// packedLen is the number of values B [n, k] takes packed for kern.
func packedLen(kern kernels.Kernel, n, k int) int { return panels(n, kern.NR) * kern.NR * k }

// packDepth is pack with passes of depth values of K.
func packDepth(p *Pool, arena *Arena, kern kernels.Kernel, b []float32, n, k, ldb int, transposed bool, depth int) *Packed {
	return packInto(p, arena.alloc(packedLen(kern, n, k)), kern, b, n, k, ldb, transposed, depth)
}

// packInto is packDepth into data, packedLen(kern, n, k) values whatever they hold (the
// padding past N is written as zeros too), so that scratch space can be packed again and again.
func packInto(p *Pool, data []float32, kern kernels.Kernel, b []float32, n, k, ldb int, transposed bool, depth int) *Packed {
	nr := kern.NR
	np := panels(n, nr)
	pm := &Packed{N: n, K: k, kernel: kern, data: data[:packedLen(kern, n, k)], kc: depth, layoutN: n, layoutK: k, transposed: transposed}
	// Each panel through every pass in turn: its NR rows of B, read whole, are one block of
	// memory (256 KiB for a 64-row panel of a 1024-wide weight), where pass by pass over all
	// panels read a 1 KiB slice of each row at a time. Packing 4096x1024, 1024x4096 and
	// 3072x1024 weights on 2 workers of a Cascade Lake Xeon, 60 alternations each: 1.08-1.11x
	// (medians; quartiles 1.04-1.17), in bfloat16 (packHalf) 1.08-1.10x.
	p.ForGrain(np, 1, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			for kc0 := 0; kc0 < k; kc0 += depth {
				pm.fillPanel(pm.panel(kc0, j), b, ldb, kc0, j)
			}
		}
	})
	return pm
}

// fillPanel writes panel j of the pass over K from k0 (min(kc, K-k0) rows of NR values,
// k-major, zero past N) into dst from B (b, row stride ldb, read as pm.transposed says).
func (pm *Packed) fillPanel(dst, b []float32, ldb, k0, j int) {
	nr := pm.kernel.NR
	kc, cols := min(pm.kc, pm.K-k0), min(nr, pm.N-j*nr)
	for q := 0; q < kc; q++ {
		row := dst[q*nr : q*nr+cols]
		if pm.transposed {
			copy(row, b[(k0+q)*ldb+j*nr:])
		}
		if cols < nr {
			clear(dst[q*nr+cols : (q+1)*nr])
		}
	}
	if !pm.transposed {
		// Rows of B become columns of the panel: the same transposition as A's.
		packRows(dst, b[j*nr*ldb+k0:], ldb, cols, nr, kc)
	}
}

// row copies row n of B (B[n, 0..K)) from float32 panels packed from B's rows into dst; it
// reports false when the panels hold something else (bfloat16, or a transposed B).
func (pm *Packed) row(n int, dst []float32) bool {
	if pm.data == nil || pm.transposed || n < 0 || n >= pm.N || len(dst) < pm.K {
		return false
	}
	nr := pm.kernel.NR
	j, c := n/nr, n%nr
	for kc0 := 0; kc0 < pm.K; kc0 += pm.kc {
		panel := pm.panel(kc0, j)
		for q := range min(pm.kc, pm.K-kc0) {
			dst[kc0+q] = panel[q*nr+c]
		}
	}
	return true
}

// panel is panel j of the pass over K from k0 in data: its rows of K (min(kc, K-k0) of them,
// NR values each, k-major) and, in a cache that grows, room for the rows to come.
func (pm *Packed) panel(k0, j int) []float32 {
	off, depth := pm.panelOffset(k0, j)
	return pm.data[off:][:depth*pm.kernel.NR]
}

// panelOffset is where panel j of the pass over K from k0 starts in data (or half), and the
// depth of the pass's panels there. Passes lie one after the other, each holding its panels
// for layoutN rows one after the other, each panel min(kc, layoutK-k0) rows deep: a pass's
// depth in data is what the layout's K gives it, not what K gives, so that a cache's K can
// grow without moving what is packed.
func (pm *Packed) panelOffset(k0, j int) (off, depth int) {
	nr := pm.kernel.NR
	depth = min(pm.kc, pm.layoutK-k0)
	return k0*panels(pm.layoutN, nr)*nr + j*depth*nr, depth
}

// Epilogue is work fused into a product's last pass over each tile of C, while the tile is
// still in L1: C = A·Bᵀ, or C += A·Bᵀ with Accumulate (C holding a residual), then + Bias, then
// GELU.
type Epilogue struct {
	Accumulate bool
	Bias       []float32 // [N], or nil
	GELU       bool
}

// MatMul computes C[M, N] = A[M, K]·Bᵀ, A[i, k] = a[i*lda+k], C[i, j] = c[i*ldc+j]. Work is
// split over panels of N across the pool; each tile of C is written by one worker.
//
// The kernel reads A by rows, in place, unless a tall A has a row stride that is a multiple of
// 2 KiB (hidden sizes 1024, 3072, ...): a tile's rows would then share a few L1 sets and halve
// the kernel's speed, so such an A is first copied, one pass's slice at a time, into rows a
// cache line longer than the pass.
func (pm *Packed) MatMul(p *Pool, c []float32, ldc int, a []float32, lda int, m int) {
	pm.MatMulEpilogue(p, c, ldc, a, lda, m, Epilogue{})
}

// MatMulEpilogue is MatMul with ep applied to every tile of C.
func (pm *Packed) MatMulEpilogue(p *Pool, c []float32, ldc int, a []float32, lda int, m int, ep Epilogue) {
	if m == 0 || pm.N == 0 {
		return
	}
	if len(a) < (m-1)*lda+pm.K || len(c) < (m-1)*ldc+pm.N || (ep.Bias != nil && len(ep.Bias) < pm.N) {
		panic(fmt.Sprintf("tensor: matmul %dx%dx%d with a %d (lda %d), c %d (ldc %d)", m, pm.K, pm.N, len(a), lda, len(c), ldc))
	}
	if pm.K == 0 {
		for i := 0; !ep.Accumulate && i < m; i++ {
			clear(c[i*ldc : i*ldc+pm.N])
		}
		ep.finish(c, ldc, m, pm.N, 0)
		return
	}
	switch {
	case pm.bf16 != nil:
		pm.matMulBF16(p, c, ldc, a, lda, m, ep)
	case pm.split != nil && m > pm.split.MR:
		pm.matMulSplit(p, c, ldc, a, lda, m, ep)
	default:
		pm.matMulFloat32(p, c, ldc, a, lda, m, ep)
	}
}

// matMulFloat32 is MatMul with the float32 kernel.
func (pm *Packed) matMulFloat32(p *Pool, c []float32, ldc int, a []float32, lda int, m int, ep Epilogue) {
	kern := pm.kernel
	mr, nr := kern.MR, kern.NR
	var widened [][]float32 // each worker's panel widened from half (tall products)
	if pm.half != nil && (m > mr || kern.MicroHalf == nil) {
		widened = make([][]float32, p.Size())
	}
	// passAt is the pass over columns [k0, k0+kc) of K, reading A's rows from a (row stride lda).
	passAt := func(k0, kc int, a []float32, lda int) pass {
		if pm.half != nil {
			return pm.halfPass(k0, kc, a, lda, widened)
		}
		base, depth := pm.panelOffset(k0, 0)
		return pass{k0: k0, k: kc, tile: func(rows, i0, j int, dst []float32, ldd int, acc bool) {
			kern.Micro(rows, kc, a[i0*lda:], lda, pm.data[base+j*depth*nr:][:kc*nr], dst, ldd, acc)
		}}
	}
	if m <= mr || !aliasing(lda) || kern.InPlaceA {
		// A is read in place: every pass in one call of the pool.
		pm.tiles(p, c, ldc, m, mr, m, nr, ep, passesOver(pm.K, pm.kc, func(k0, kc int) pass { return passAt(k0, kc, a[k0:], lda) }))
		return
	}
	// A's rows would share L1 sets, and this CPU's kernels are faster reading them apart:
	// copy each pass's slice of them apart first, into rows a cache line longer than the pass.
	aStride := unaliased(pm.kc + 16)
	apack := make([]float32, m*aStride)
	for k0 := 0; k0 < pm.K; k0 += pm.kc {
		kc := min(pm.kc, pm.K-k0)
		p.ForGrain(m, 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				copy(apack[i*aStride:i*aStride+kc], a[i*lda+k0:])
			}
		})
		pm.tiles(p, c, ldc, m, mr, m, nr, ep, []pass{passAt(k0, kc, apack, aStride)})
	}
}

// tileFunc computes the tile of rows rows from row i0 in panel j of C into dst (row stride
// ldd), adding to dst's values when acc is set.
type tileFunc func(rows, i0, j int, dst []float32, ldd int, acc bool)

// pass is one pass over columns [k0, k0+k) of K: tile computes its tiles, or, for a pass whose
// tiles need scratch state, perWorker gives each worker (by its index in the pool's call, see
// Pool.ForWorkers) a tileFunc of its own.
type pass struct {
	k0, k     int
	tile      tileFunc
	perWorker func(worker int) tileFunc
	// tileStores is set when the pass's kernel writes C with AMX tile stores: the epilogue
	// then waits a tile (see panelTiles).
	tileStores bool
}

// passesOver is the passes over [0, n) in steps of depth, at(start, length) making each.
func passesOver(n, depth int, at func(start, length int) pass) []pass {
	passes := make([]pass, 0, (n+depth-1)/depth)
	for start := 0; start < n; start += depth {
		passes = append(passes, at(start, min(depth, n-start)))
	}
	return passes
}

// tiles runs passes over every tile (a block of mr rows, a panel of nr columns) of C, in order,
// in one call of the pool: panels are split across the pool (a tall product's in a few chunks
// a worker, claimed as workers come free, Pool.forBalanced), and each chunk takes its panels
// through every pass in turn, each pass panel by panel, every tile of a panel in turn, for one
// block of mc rows of A at a time (so that the block stays in L2 while the chunk's panels
// stream past it). No pass waits for the others' workers: a tile of C is one worker's. The
// first pass adds to C when ep.Accumulate is set, the others always; the epilogue runs on each
// tile as the last of all K finishes it (when the last pass given ends K). The last panel,
// narrower than nr, goes through a full-width scratch tile.
func (pm *Packed) tiles(p *Pool, c []float32, ldc, m, mr, mc, nr int, ep Epilogue, passes []pass) {
	np := panels(pm.N, nr)
	fullPanels := pm.N / nr
	split := p.ForWorkers // a decode step's few rows: an equal share of the panels each
	if m > mr {
		split = p.forBalanced
	}
	split(np, 1, func(w, lo, hi int) {
		var tile []float32
		for _, ps := range passes {
			micro := ps.tile
			if ps.perWorker != nil {
				micro = ps.perWorker(w)
			}
			acc, last := ps.k0 > 0 || ep.Accumulate, ps.k0+ps.k == pm.K
			for ic := 0; ic < m; ic += mc {
				for j := lo; j < hi; j++ {
					pm.panelTiles(c, ldc, ic, min(ic+mc, m), j, mr, nr, j < fullPanels, acc, last, ps.tileStores, ep, micro, &tile)
				}
			}
		}
	})
}

// panelTiles runs micro over the tiles of rows [i0, i1) of panel j (see tiles). In the last
// pass each tile's epilogue runs right after its kernel call, on the tile the kernel just
// wrote (in L1), except after AMX kernels (deferred): they write C with TILESTORED, and on the
// device machine's Xeon the first loads of rows just stored that way looked slow (the
// epilogue's bias add took 2.7x as long after AMX as after the float32 kernels in the same
// run), so there each tile's epilogue runs after the next tile's kernel call. The vector
// kernels' epilogues ran that way too until one call's operands (a 64 KiB panel of B) were
// seen to push the waiting tile out of L1: on Zen 5 the bfloat16 577x1024x4096 product's bias
// and GELU took 9.1% of its kernel's time deferred, 7.2% right after (perf), and with the
// epilogue's row kernels (one call a tile) the vision encoder went from 600 to 581 ms in
// bfloat16, 963 to 943 in float32 (BenchmarkVision, medians of five alternating rounds). The
// results are the same either way, each tile's epilogue being its own.
func (pm *Packed) panelTiles(c []float32, ldc, i0, i1, j, mr, nr int, full, acc, last, deferred bool, ep Epilogue, micro tileFunc, tile *[]float32) {
	cols := min(nr, pm.N-j*nr)
	finish := func(i0, rows int) {
		if rows > 0 {
			ep.finish(c[i0*ldc+j*nr:], ldc, rows, cols, j*nr)
		}
	}
	pending, pendingRows := 0, 0 // the tile whose epilogue waits (none while pendingRows is 0)
	for ; i0 < i1; i0 += mr {
		rows := min(mr, i1-i0)
		if full {
			micro(rows, i0, j, c[i0*ldc+j*nr:], ldc, acc)
		} else {
			if *tile == nil {
				*tile = make([]float32, mr*nr)
			}
			t := *tile
			if acc {
				for r := 0; r < rows; r++ {
					copy(t[r*nr:r*nr+cols], c[(i0+r)*ldc+j*nr:])
				}
			}
			micro(rows, i0, j, t, nr, acc)
			for r := 0; r < rows; r++ {
				copy(c[(i0+r)*ldc+j*nr:(i0+r)*ldc+j*nr+cols], t[r*nr:])
			}
		}
		switch {
		case last && deferred:
			finish(pending, pendingRows)
			pending, pendingRows = i0, rows
		case last:
			finish(i0, rows)
		}
	}
	finish(pending, pendingRows)
}

// finish applies the bias and GELU to rows finished rows of C (c from the first, ldc apart),
// each a run of cols columns starting at column col: one kernel call each for a whole tile.
func (ep *Epilogue) finish(c []float32, ldc, rows, cols, col int) {
	if ep.Bias != nil {
		kernels.AddRows(c, ldc, rows, ep.Bias[col:col+cols])
	}
	if ep.GELU {
		kernels.GELURows(c, ldc, rows, cols)
	}
}

// packRows writes rows×kc values of a matrix (row stride lda) k-major in groups of mr:
// dst[q*mr+r] = a[r*lda+q]. It reads eight rows side by side (then four, then one), so that
// each pass writes eight neighbouring values of every group: four were 5x faster than one
// value at a time at the weights' shapes, which load packs, and eight 1.13-1.24x faster than
// four on a Cascade Lake Xeon (a 4096x1024 weight packed into reused memory on 2 workers,
// three alternating rounds: 4.25-4.45 GB/s -> 4.73-5.42); sixteen, through an array of row
// slices, were slower than four.
func packRows(dst, a []float32, lda, rows, mr, kc int) {
	r := 0
	for ; r+8 <= rows; r += 8 {
		s0 := a[r*lda : r*lda+kc]
		s1 := a[(r+1)*lda:][:kc]
		s2 := a[(r+2)*lda:][:kc]
		s3 := a[(r+3)*lda:][:kc]
		s4 := a[(r+4)*lda:][:kc]
		s5 := a[(r+5)*lda:][:kc]
		s6 := a[(r+6)*lda:][:kc]
		s7 := a[(r+7)*lda:][:kc]
		for q := range s0 {
			d := dst[q*mr+r:][:8]
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s0[q], s1[q], s2[q], s3[q], s4[q], s5[q], s6[q], s7[q]
		}
	}
	for ; r+4 <= rows; r += 4 {
		s0 := a[r*lda : r*lda+kc]
		s1 := a[(r+1)*lda:][:kc]
		s2 := a[(r+2)*lda:][:kc]
		s3 := a[(r+3)*lda:][:kc]
		for q := range s0 {
			d := dst[q*mr+r:][:4]
			d[0], d[1], d[2], d[3] = s0[q], s1[q], s2[q], s3[q]
		}
	}
	for ; r < rows; r++ {
		for q, v := range a[r*lda : r*lda+kc] {
			dst[q*mr+r] = v
		}
	}
}
