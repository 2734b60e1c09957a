package tensor

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Pool bounds how many goroutines a kernel may use. A For call runs one chunk on the calling
// goroutine and hands the others to helper goroutines, which stay a short while after their
// last chunk (spinning for helperSpin, then parked until helperIdle has passed) to take the
// next call's chunks without the microseconds a new goroutine takes to be scheduled: a decode
// step makes about a hundred calls of tens of microseconds each. A Pool is safe for concurrent
// use and needs no Close: idle helpers end by themselves.
type Pool struct {
	size  int
	tasks chan func()
	idle  atomic.Int32 // helpers waiting for a task
}

// How long an idle helper polls for a task, then waits parked, before it ends.
const (
	helperSpin = 50 * time.Microsecond
	helperIdle = 2 * time.Millisecond
)

// yieldInterval is how often a goroutine polling for a chunk gives up its processor
// (runtime.Gosched), so that goroutines waiting for one (a new helper, the collector) run.
// Yielding takes the scheduler's global lock: yielding after every empty poll, 16 workers
// spent a fifth of a 16-thread caption's CPU time in that lock (device machine's Xeon, CPU
// profile); the polls in between are lock-free reads of the queue.
const yieldInterval = 20 * time.Microsecond

// NewPool returns a pool of n workers; n <= 0 means runtime.GOMAXPROCS(0).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Pool{size: n, tasks: make(chan func(), 4*n)}
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
	var pending atomic.Int32
	for w, lo := 1, chunk; lo < n; w, lo = w+1, lo+chunk {
		hi := min(lo+chunk, n)
		pending.Add(1)
		p.submit(func() {
			fn(w, lo, hi)
			pending.Add(-1)
		})
	}
	fn(0, 0, min(chunk, n))
	// Wait by helping: run queued chunks (of this call or another) until ours are done.
	var s spinner
	for pending.Load() > 0 {
		if t := p.take(); t != nil {
			t()
		} else {
			s.pause()
		}
	}
}

// take returns a queued chunk, or nil when there is none.
func (p *Pool) take() func() {
	select {
	case t := <-p.tasks:
		return t
	default:
		return nil
	}
}

// spinner paces a goroutine that polls for work: pause, called after each empty poll, yields
// the processor once every yieldInterval.
type spinner struct {
	polls int
	last  time.Time
}

// pause counts an empty poll; every 64th it reads the clock, yields when yieldInterval has
// passed since the last yield, and returns the time read (zero otherwise).
func (s *spinner) pause() time.Time {
	if s.polls++; s.polls%64 != 0 {
		return time.Time{}
	}
	now := time.Now()
	if now.Sub(s.last) >= yieldInterval {
		s.last = now
		runtime.Gosched()
	}
	return now
}

// submit queues a chunk for an idle helper, or starts a helper for it.
func (p *Pool) submit(t func()) {
	if p.idle.Load() > 0 {
		select {
		case p.tasks <- t:
			return
		default:
		}
	}
	go p.helper(t)
}

// helper runs t, then tasks from the queue until it has waited helperSpin polling and
// helperIdle parked without one.
func (p *Pool) helper(t func()) {
	for t != nil {
		t()
		t = p.next()
	}
}

// next waits for a queued chunk as helper describes; nil when the helper should end.
func (p *Pool) next() func() {
	p.idle.Add(1)
	defer p.idle.Add(-1)
	start := time.Now()
	for s := (spinner{last: start}); ; {
		if t := p.take(); t != nil {
			return t
		}
		if now := s.pause(); !now.IsZero() && now.Sub(start) >= helperSpin {
			break
		}
	}
	timer := time.NewTimer(helperIdle)
	defer timer.Stop()
	select {
	case t := <-p.tasks:
		return t
	case <-timer.C:
		return nil
	}
}
