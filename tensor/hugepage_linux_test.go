package tensor

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
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
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && !strings.Contains(string(mode), "[never]") {
		eligible, err := thpEligible(addr)
		if err != nil {
			t.Fatal(err)
		}
		if !eligible {
			t.Errorf("the mapping at %#x is not eligible for huge pages (transparent_hugepage/enabled: %s)", addr, strings.TrimSpace(string(mode)))
		}
	} else {
		t.Logf("transparent huge pages are off or unknown here (%v): eligibility not checked", err)
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
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
