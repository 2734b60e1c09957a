package tensor

import "sync"

// Arena hands out float32 buffers that live outside the Go heap (anonymous memory maps on
// Unix): gigabytes of packed weights would otherwise make the garbage collector, which paces
// itself on the live heap, let the process grow to twice their size. Free releases them all;
// buffers must not be used afterwards. An Arena is safe for concurrent use.
type Arena struct {
	mu     sync.Mutex
	chunks []offHeap
}

// NewArena returns an empty arena.
func NewArena() *Arena { return &Arena{} }

// Alloc returns n zeroed float32 values.
func (a *Arena) Alloc(n int) []float32 {
	if n == 0 {
		return nil
	}
	c := allocOffHeap(n)
	a.mu.Lock()
	a.chunks = append(a.chunks, c)
	a.mu.Unlock()
	return c.floats
}

// Free releases every buffer of the arena.
func (a *Arena) Free() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first error
	for _, c := range a.chunks {
		if err := c.free(); err != nil && first == nil {
			first = err
		}
	}
	a.chunks = nil
	return first
}

// alloc allocates from the arena, or from the Go heap for a nil arena.
func (a *Arena) alloc(n int) []float32 {
	if a == nil {
		return make([]float32, n)
	}
	return a.Alloc(n)
}
