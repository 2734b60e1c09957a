//go:build unix

package safetensors

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// release drops the whole pages of the mapping that lie inside data.
func (f *File) release(data []float32) {
	if len(data) == 0 || len(f.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	end := start + uintptr(len(data))*4
	if start < base || end > base+uintptr(len(f.data)) {
		return
	}
	page := uintptr(os.Getpagesize())
	lo := (start - base + page - 1) / page * page
	hi := (end - base) / page * page
	if hi > lo {
		unix.Madvise(f.data[lo:hi], unix.MADV_DONTNEED)
	}
}
