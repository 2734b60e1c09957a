package tensor

import "unsafe"

// float32Bits views float32 storage (from an Arena) as uint32 words of the same bits.
func float32Bits(f []float32) []uint32 {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
}
