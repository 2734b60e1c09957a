package tensor

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Pool bounds how many goroutines a kernel may use. A For call splits its range into one
// chunk per worker (the long calls of tall products and attention into a few each, see
// forBalanced) and offers the call to helper goroutines; the caller and the helpers that join
// claim chunks from the call until none is left, so a helper that is slow to start (or a core
// that is busy elsewhere) costs its chunk to whoever is free, not the whole call. Helpers
// stay a short while after their last chunk (polling for helperSpin, then parked until
// helperIdle has passed) to join the next call without the microseconds a new goroutine takes
// to be scheduled: a decode step makes about a hundred calls of tens of microseconds each. A
// Pool is safe for concurrent use and needs no Close: idle helpers end by themselves.
//
// A call is offered by publishing it where polling helpers look (one atomic store, however
// many helpers poll), by handing it to parked helpers one by one, and by starting helpers
// while fewer than size-1 are alive. (Offering it through a channel, a message per chunk, made
// the caller and 15 polling helpers contend for the channel's lock: in a 16-thread CPU profile
// of the device machine's Xeon, the float32 decode steps' caller spent most of its time
// sending offers and waiting for helpers to take them.)
type Pool struct {
	size    int
	offered atomic.Pointer[call] // the newest call offered, for polling helpers
	wake    chan *call           // unbuffered: parked helpers receive calls here
	polling atomic.Int32         // helpers polling offered
	helpers atomic.Int32         // helpers alive, at most size-1
	forks   atomic.Int64         // calls split across workers, for tests
}

// call is one For call's range, shared by the goroutines that work on it.
type call struct {
	fn         func(worker, lo, hi int)
	n, chunk   int
	chunks     int64
	next, done atomic.Int64 // chunks claimed, chunks finished
	joined     atomic.Int32 // worker indices handed out
}

// How long an idle helper polls for a call, then waits parked, before it ends.
const (
	helperSpin = 50 * time.Microsecond
	helperIdle = 2 * time.Millisecond
)

// yieldInterval is how often a goroutine polling for work gives up its processor
// (runtime.Gosched), so that goroutines waiting for one (a new helper, the collector) run.
// Yielding takes the scheduler's global lock: yielding after every empty poll, 16 workers
// spent a fifth of a 16-thread caption's CPU time in that lock (device machine's Xeon, CPU
// profile); the polls in between are lock-free reads.
const yieldInterval = 20 * time.Microsecond

// chunkWork is the least work, in multiply-adds or values moved, worth a chunk of a call of
// its own: a fork and join costs a quarter of a microsecond on 2 cores and more with every
// helper it wakes, which is what 32K multiply-adds take on one core. A decode step's
// self-attention over a few dozen keys is thus one or two chunks, not one a head.
const chunkWork = 1 << 15

// grainFor is the grain of a call whose items take work multiply-adds each: enough items a
// chunk to make chunkWork.
func grainFor(work int) int { return max(1, chunkWork/max(work, 1)) }

// NewPool returns a pool of n workers; n <= 0 means runtime.GOMAXPROCS(0).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Pool{size: n, wake: make(chan *call)}
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
// per-worker scratch space: no two chunks of a call running at once share an index (one
// worker may run several chunks, one after another).
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
	p.forChunks(n, (n+workers-1)/workers, fn)
}

// shares is how many chunks forBalanced gives each worker.
const shares = 4

// forBalanced is ForWorkers with shares chunks a worker (none under grain items), claimed one
// at a time by whichever worker is free, for calls long enough that the cores' unequal pace
// costs more than the extra claims and the locality they lose: the tall products' panels and
// the vision encoder's attention. On this project's AMX Xeon (2 cores, whose AMX the host
// throttles core by core) equal shares left one core waiting for the other for about a tenth
// of a bfloat16 vision encoder (CPU profile; docs/speed-log.md, twenty-second session).
func (p *Pool) forBalanced(n, grain int, fn func(worker, lo, hi int)) {
	p.forChunks(n, max(grain, (n+shares*p.Size()-1)/(shares*p.Size())), fn)
}

// forChunks calls fn over [0, n) in chunks of chunk items (the last one shorter), claimed one
// at a time by whichever worker is free, and returns when all are done: with more chunks than
// workers, a worker that runs slower (a core busy elsewhere, or whose AMX the host throttles)
// takes fewer of them, where equal shares would leave the others waiting for it. Which items
// share a chunk depends on n and chunk alone, never on timing. One worker, or one chunk, runs
// [0, n) on the caller.
func (p *Pool) forChunks(n, chunk int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunk = max(chunk, 1)
	if p.Size() <= 1 || chunk >= n {
		fn(0, 0, n)
		return
	}
	p.forks.Add(1)
	c := &call{fn: fn, n: n, chunk: chunk, chunks: int64((n + chunk - 1) / chunk)}
	p.offer(c)
	c.work()
	// The caller has claimed every chunk it found; wait for those that others run. Each of
	// them finishes by itself (a chunk's own inner calls can complete on that chunk's
	// goroutine alone), so waiting cannot deadlock.
	var s spinner
	for c.done.Load() < c.chunks {
		s.pause()
	}
	// Let go of fn (and what it holds), and of c where helpers look for calls: no one reads
	// fn after the last chunk is claimed.
	c.fn = nil
	p.offered.CompareAndSwap(c, nil)
}

// open reports whether c has chunks left to claim.
func (c *call) open() bool { return c != nil && c.next.Load() < c.chunks }

// work joins c with a worker index of its own and runs the chunks it claims until none is
// left.
func (c *call) work() {
	worker := -1
	for c.open() {
		i := c.next.Add(1) - 1
		if i >= c.chunks {
			return
		}
		if worker < 0 {
			worker = int(c.joined.Add(1) - 1)
		}
		lo := int(i) * c.chunk
		c.fn(worker, lo, min(lo+c.chunk, c.n))
		c.done.Add(1)
	}
}

// offer makes c's chunks other than the caller's first known to helpers: the polling ones see
// it published; as many parked ones as those do not cover are handed it; and while that is
// still short, helpers are started for it, never more than size-1 alive (a helper polling for
// work holds a processor, and with more pollers than processors the callers themselves waited
// for one). Whoever comes late finds the chunks claimed, which is cheap; the caller runs every
// chunk nobody took.
func (p *Pool) offer(c *call) {
	p.offered.Store(c)
	want := int32(min(c.chunks, int64(p.size)) - 1)
	got := p.polling.Load()
	for got < want {
		select {
		case p.wake <- c: // a parked helper took it
			got++
			continue
		default:
		}
		h := p.helpers.Load()
		if h >= int32(p.size-1) {
			return
		}
		if p.helpers.CompareAndSwap(h, h+1) {
			go p.helper(c)
			got++
		}
	}
}

// helper works on c, then on the calls it finds until it has waited helperSpin polling and
// helperIdle parked without one.
func (p *Pool) helper(c *call) {
	defer p.helpers.Add(-1)
	for c != nil {
		c.work()
		c = p.next()
	}
}

// next waits for a call as helper describes; nil when the helper should end.
func (p *Pool) next() *call {
	p.polling.Add(1)
	start := time.Now()
	for s := (spinner{last: start}); ; {
		if c := p.offered.Load(); c.open() {
			p.polling.Add(-1)
			return c
		}
		if now := s.pause(); !now.IsZero() && now.Sub(start) >= helperSpin {
			break
		}
	}
	p.polling.Add(-1)
	// A call published after the last poll but counting this helper as polling would wait
	// for it in vain: look once more before parking.
	if c := p.offered.Load(); c.open() {
		return c
	}
	timer := time.NewTimer(helperIdle)
	defer timer.Stop()
	select {
	case c := <-p.wake:
		return c
	case <-timer.C:
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
