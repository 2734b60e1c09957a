package main

import (
	"os"
	"testing"
)

// TestGeneratedUpToDate fails when gemm_amd64.s differs from what the generator writes: edit
// the generator, then run go generate ./tensor/... (see kernels.go).
func TestGeneratedUpToDate(t *testing.T) {
	have, err := os.ReadFile("../gemm_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != generate() {
		t.Fatal("gemm_amd64.s is stale: run go generate ./tensor/internal/kernels")
	}
}
