//go:build unix

package tensor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

type offHeap struct {
	mem    []byte // the whole mapping
	floats []float32
}

// allocOffHeap maps n zeroed float32 values; where the system has transparent huge pages,
// a large buffer is placed and advised for them (hugeStart).
func allocOffHeap(n int) offHeap {
	size := n * 4
	mem, err := unix.Mmap(-1, 0, hugeMapping(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		// Out of address space or memory: the heap is the only other place to go.
		return offHeap{floats: make([]float32, n)}
	}
	start := hugeStart(mem, size)
	return offHeap{mem: mem, floats: unsafe.Slice((*float32)(unsafe.Pointer(&mem[start])), n)}
}

func (o offHeap) free() error {
	if o.mem == nil {
		return nil
	}
	return unix.Munmap(o.mem)
}
