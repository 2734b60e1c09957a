package tensor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page (x86-64, and arm64 with 4 KiB pages).
const hugePage = 2 << 20

// hugeMapping is how many bytes to map for a buffer of size bytes: one huge page more for a
// buffer of two huge pages or more, so that it can start on a huge-page boundary. The part
// before the boundary is never touched and takes no memory.
func hugeMapping(size int) int {
	if size >= 2*hugePage {
		return size + hugePage
	}
	return size
}

// hugeStart is the offset in mem (hugeMapping(size) bytes) where the buffer of size bytes
// starts. A large buffer starts on a huge-page boundary and is advised to use transparent huge
// pages: a page fault then maps 2 MiB instead of 4 KiB (the 1.9 GB of BLIP-large's packed
// float32 weights took 520,000 faults, 150,000 with them, most of the rest the checkpoint's
// file mapping), and the kernels that stream the weights miss the TLB less often. The advice
// is advice: a kernel with huge pages switched off ignores it or answers EINVAL, and the
// buffer keeps 4 KiB pages.
func hugeStart(mem []byte, size int) int {
	if len(mem) == size {
		return 0
	}
	start := (hugePage - int(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%hugePage)) % hugePage
	_ = unix.Madvise(mem[start:start+size], unix.MADV_HUGEPAGE)
	return start
}
