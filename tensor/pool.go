package tensor

import (
	"runtime"
	"sync"
)

// Pool bounds how many goroutines a kernel may use. It holds no goroutines between calls: each
// For call starts at most Size-1 helpers and works on the calling goroutine too, so a Pool is
// cheap, safe for concurrent use, and needs no Close.
type Pool struct {
	size int
}

// NewPool returns a pool of n workers; n <= 0 means runtime.GOMAXPROCS(0).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Pool{size: n}
}

// Size is the number of workers.
func (p *Pool) Size() int {
	if p == nil {
		return 1
	}
	return p.size
}

// For calls fn over [0, n) split into contiguous chunks, one per worker, and returns when all
// are done. A nil pool runs everything on the caller.
func (p *Pool) For(n int, fn func(lo, hi int)) {
	p.ForGrain(n, 1, fn)
}

// ForGrain is For with chunks of at least grain items, so that tiny loops stay on one goroutine.
func (p *Pool) ForGrain(n, grain int, fn func(lo, hi int)) {
	p.ForWorkers(n, grain, func(_, lo, hi int) { fn(lo, hi) })
}

// ForWorkers is ForGrain that also tells each chunk its worker's index, in [0, Size()), for
// per-worker scratch space: no two chunks running at once share an index.
func (p *Pool) ForWorkers(n, grain int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := p.Size()
	if grain < 1 {
		grain = 1
	}
	if max := (n + grain - 1) / grain; workers > max {
		workers = max
	}
	if workers <= 1 {
		fn(0, 0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w, lo := 1, chunk; lo < n; w, lo = w+1, lo+chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}
