package main

import (
	"os"
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
