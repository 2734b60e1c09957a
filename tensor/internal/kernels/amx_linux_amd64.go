//go:build linux && amd64 && !noasm

package kernels

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Linux grants the AMX tile data state per process, on request (kernel 5.16 and later).
const (
	archGetXcompPerm = 0x1022
	archReqXcompPerm = 0x1023
	xfeatureTileData = 18
)

// requestTilePermission asks the kernel for the tile data state, once per process (the
// package's initialisation calls it), and checks that it was granted.
func requestTilePermission() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureTileData, 0); e != 0 {
		return fmt.Errorf("arch_prctl(ARCH_REQ_XCOMP_PERM): %v", e)
	}
	var mask uint64
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archGetXcompPerm, uintptr(unsafe.Pointer(&mask)), 0); e != 0 {
		return fmt.Errorf("arch_prctl(ARCH_GET_XCOMP_PERM): %v", e)
	}
	if mask&(1<<xfeatureTileData) == 0 {
		return fmt.Errorf("arch_prctl granted %#x, without tile data", mask)
	}
	return nil
}
