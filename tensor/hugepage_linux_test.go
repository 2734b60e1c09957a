package tensor

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestArenaHugePages checks that a large arena buffer starts on a huge-page boundary, is zeroed
// and usable beside a small one, and that the kernel counts its mapping as eligible for
// transparent huge pages where they are not switched off.
func TestArenaHugePages(t *testing.T) {
	a := NewArena()
	n := 3 * hugePage / 4 * 2 // 6 MiB of float32
	big := a.Alloc(n)
	small := a.Alloc(1000)
	addr := uintptr(unsafe.Pointer(&big[0]))
	if addr%hugePage != 0 {
		t.Errorf("a %d-byte buffer starts at %#x, not on a %d-byte boundary", 4*n, addr, hugePage)
	}
	for i, v := range big {
		if v != 0 {
			t.Fatalf("big[%d] = %g, want a zeroed buffer", i, v)
		}
	}
	for i := range big {
		big[i] = float32(i)
	}
	small[len(small)-1] = 1
	if honoured, why := hugeAdviceHonoured(t); honoured {
		eligible, err := thpEligible(addr)
		if err != nil {
			t.Fatal(err)
		}
		if !eligible {
			t.Errorf("the arena's mapping at %#x is not eligible for huge pages, a mapping advised here is", addr)
		}
	} else {
		t.Logf("huge-page eligibility not checked: %s", why)
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
}

// hugeAdviceHonoured reports whether this system marks a mapping advised MADV_HUGEPAGE as
// eligible for huge pages: not where they are switched off, nor under qemu-user (the arm64
// tests), which accepts the advice and drops it.
func hugeAdviceHonoured(t *testing.T) (bool, string) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return false, err.Error()
	}
	if strings.Contains(string(mode), "[never]") {
		return false, "transparent huge pages are switched off"
	}
	control, err := unix.Mmap(-1, 0, 2*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(control)
	if err := unix.Madvise(control, unix.MADV_HUGEPAGE); err != nil {
		return false, "madvise: " + err.Error()
	}
	control[0] = 1
	eligible, err := thpEligible(uintptr(unsafe.Pointer(&control[0])))
	if err != nil {
		t.Fatal(err)
	}
	if !eligible {
		return false, "a mapping advised MADV_HUGEPAGE is not eligible here (" + strings.TrimSpace(string(mode)) + ")"
	}
	return true, ""
}

// thpEligible reads the THPeligible field of the mapping holding addr in /proc/self/smaps.
func thpEligible(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= addr && addr < hi
			continue
		}
		if v, ok := strings.CutPrefix(line, "THPeligible:"); ok && in {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("no THPeligible field for %#x in /proc/self/smaps", addr)
}
