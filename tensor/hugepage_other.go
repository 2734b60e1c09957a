//go:build unix && !linux

package tensor

// hugeMapping and hugeStart place buffers as they come where transparent huge pages are not
// asked for (hugepage_linux.go).
func hugeMapping(size int) int { return size }

func hugeStart([]byte, int) int { return 0 }
