//go:build amd64 && !noasm

package kernels

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReadsAliasedRows: the vendor and family that readsAliasedRows decodes from CPUID are
// those Linux reads (/proc/cpuinfo), and every vector kernel carries its choice (or, in builds
// tagged inplacea, reads A in place).
func TestReadsAliasedRows(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo to compare CPUID with:", err)
	}
	field := func(name string) string {
		for _, line := range strings.Split(string(info), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("/proc/cpuinfo has no %q", name)
		return ""
	}
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
