//go:build !noasm && amxcols

package kernels

// amxChosen: amx-bf16-cols (see amxchosen_amd64.go).
const amxChosen = 2
