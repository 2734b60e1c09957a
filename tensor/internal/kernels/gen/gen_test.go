package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate fails when the committed kernels differ from what the generator
// writes: edit the generator, then run go generate ./tensor/internal/kernels.
func TestGeneratedUpToDate(t *testing.T) {
	neonAsm, neonDecl := neonFiles()
	for name, want := range map[string]string{"../gemm_amd64.s": generate(), "../gemm_decl_amd64.go": declarations(),
		"../gemm_arm64.s": neonAsm, "../gemm_decl_arm64.go": neonDecl} {
		have, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(have) != want {
			t.Errorf("%s is stale: run go generate ./tensor/internal/kernels", name)
		}
	}
}

// TestAMXEncodings checks every AMX instruction the generator writes as bytes against GNU
// objdump's reading of those bytes.
func TestAMXEncodings(t *testing.T) {
	var code []byte
	var want []string
	for _, line := range strings.Split(generate(), "\n") {
		insn, comment, ok := strings.Cut(strings.TrimSpace(line), " // ")
		if !ok || !strings.HasPrefix(insn, "BYTE ") || !strings.HasPrefix(comment, "t") && !strings.HasPrefix(comment, "ldtilecfg") {
			continue
		}
		for _, field := range strings.Split(insn, ";") {
			var v byte
			if _, err := fmt.Sscanf(strings.TrimSpace(field), "BYTE $0x%x", &v); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			code = append(code, v)
		}
		want = append(want, comment)
	}
	if len(want) < 10 {
		t.Fatalf("found only %d AMX instructions", len(want))
	}
	checkReadings(t, want, objdumpReads(t, "objdump", code, "i386:x86-64", "-M", "intel"))
}

// TestNEONEncodings checks every A64 instruction the generator writes as a word (the NEON
// element-wise kernels' floating-point arithmetic) against aarch64-linux-gnu-objdump's reading
// of it.
func TestNEONEncodings(t *testing.T) {
	asm, _ := neonFiles()
	var code []byte
	var want []string
	for _, line := range strings.Split(asm, "\n") {
		insn, comment, ok := strings.Cut(strings.TrimSpace(line), " // ")
		if !ok || !strings.HasPrefix(insn, "WORD ") {
			continue
		}
		var v uint32
		if _, err := fmt.Sscanf(insn, "WORD $0x%x", &v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		code = binary.LittleEndian.AppendUint32(code, v)
		want = append(want, comment)
	}
	if len(want) < 20 {
		t.Fatalf("found only %d NEON words", len(want))
	}
	checkReadings(t, want, objdumpReads(t, "aarch64-linux-gnu-objdump", code, "aarch64"))
}

// objdumpReads disassembles raw machine code with the given objdump for machine arch (extra
// flags after it) and returns each instruction's text, blanks collapsed. It skips the test
// where that objdump is not installed, unless BLIPGO_OBJDUMP=1 (as .ci/run sets it).
func objdumpReads(t *testing.T, tool string, code []byte, arch string, flags ...string) []string {
	t.Helper()
	objdump, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("BLIPGO_OBJDUMP") == "1" {
			t.Fatalf("BLIPGO_OBJDUMP=1 but %s is not installed", tool)
		}
		t.Skipf("%s not installed", tool)
	}
	bin := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(bin, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, append([]string{"-D", "-b", "binary", "-m", arch}, append(flags, bin)...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		// "   4:\t7e30d800 \tfaddp\ts0, v0.2s": address, code, then the instruction.
		if f := strings.Split(line, "\t"); len(f) >= 3 && strings.HasSuffix(f[0], ":") {
			got = append(got, strings.Join(strings.Fields(strings.Join(f[2:], " ")), " "))
		}
	}
	return got
}

// checkReadings compares what objdump read with what the generator meant, instruction by
// instruction.
func checkReadings(t *testing.T, want, got []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("objdump read %d instructions, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("instruction %d: objdump reads %q, the generator meant %q", i, got[i], want[i])
		}
	}
}
