//go:build amd64 && !noasm

package kernels

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReadsAliasedRows: the vendor and family that readsAliasedRows decodes from CPUID are
// those Linux reads (/proc/cpuinfo), and every vector kernel carries its choice (or, in builds
// tagged inplacea, reads A in place).
func TestReadsAliasedRows(t *testing.T) {
	field := cpuinfo(t)
	family, err := strconv.Atoi(field("cpu family"))
	if err != nil {
		t.Fatalf("cpu family: %v", err)
	}
	want := field("vendor_id") == "AuthenticAMD" && family >= 0x1a
	if got := readsAliasedRows(); got != want {
		t.Errorf("readsAliasedRows() = %v for %s family %d, want %v", got, field("vendor_id"), family, want)
	}
	for _, k := range Available() {
		if k.Name != "go" && k.InPlaceA != (want || inPlaceEverywhere) {
			t.Errorf("%s: InPlaceA %v, want %v", k.Name, k.InPlaceA, want || inPlaceEverywhere)
		}
	}
}

// TestWidePanelsFirst: the 6x64 family goes first exactly on an Intel CPU (as /proc/cpuinfo
// names the vendor) whose L1 data cache Linux reports as 32 KiB
// (/sys/devices/system/cpu/cpu0/cache), 14x32 elsewhere; on Intel, l1DataBytes decodes from
// CPUID leaf 4 the size Linux reports.
func TestWidePanelsFirst(t *testing.T) {
	intel := cpuinfo(t)("vendor_id") == "GenuineIntel"
	if v, _ := vendorFamily(); (v == "GenuineIntel") != intel {
		t.Errorf("vendorFamily() vendor %q, /proc/cpuinfo says Intel: %v", v, intel)
	}
	l1 := sysfsL1Data(t)
	if l1 == 0 {
		t.Skip("Linux reports no L1 data cache size to compare with")
	}
	if intel && l1DataBytes() != l1 {
		t.Errorf("l1DataBytes() = %d, Linux says %d", l1DataBytes(), l1)
	}
	want := intel && l1 == 32<<10
	if got := widePanelsFirst(); got != want {
		t.Errorf("widePanelsFirst() = %v (Intel %v, %d bytes of L1 data), want %v", got, intel, l1, want)
	}
	var names []string
	for _, k := range Available() {
		names = append(names, k.Name)
	}
	if !slices.Contains(names, "avx512") {
		t.Skip("no AVX-512 kernels here:", names)
	}
	first := "avx512"
	if want {
		first = "avx512n64"
	}
	if names[0] != first || Best().Name != first {
		t.Errorf("kernels %v (best %s), want %s first (Intel %v, %d bytes of L1 data)", names, Best().Name, first, intel, l1)
	}
}

// cpuinfo reads /proc/cpuinfo (skipping the test where there is none) and returns a lookup of
// its first processor's fields, which fails the test on a field it lacks.
func cpuinfo(t *testing.T) func(name string) string {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo to compare CPUID with:", err)
	}
	return func(name string) string {
		for _, line := range strings.Split(string(info), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("/proc/cpuinfo has no %q", name)
		return ""
	}
}

// sysfsL1Data is the size of cpu0's level-1 data cache as Linux reports it, 0 (logged) where
// it does not.
func sysfsL1Data(t *testing.T) int {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	for _, d := range dirs {
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(d, name))
			return strings.TrimSpace(string(b))
		}
		if read("level") != "1" || read("type") != "Data" {
			continue
		}
		size := read("size")
		n, err := strconv.Atoi(strings.TrimSuffix(size, "K"))
		if err != nil || !strings.HasSuffix(size, "K") {
			t.Logf("cpu0's L1 data size %q: not n K", size)
			return 0
		}
		return n << 10
	}
	t.Log("Linux reports no L1 data cache for cpu0")
	return 0
}
