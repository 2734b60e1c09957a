//go:build unix

package tensor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

type offHeap struct {
	mem    []byte
	floats []float32
}

func allocOffHeap(n int) offHeap {
	mem, err := unix.Mmap(-1, 0, n*4, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		// Out of address space or memory: the heap is the only other place to go.
		return offHeap{floats: make([]float32, n)}
	}
	adviseHugePages(mem)
	return offHeap{mem: mem, floats: unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(mem))), n)}
}

func (o offHeap) free() error {
	if o.mem == nil {
		return nil
	}
	return unix.Munmap(o.mem)
}
