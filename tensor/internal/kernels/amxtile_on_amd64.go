//go:build !noasm && amxtile && !amxcols

package kernels

// amxChosen: amx-bf16, a call for every 32 rows (see amxchosen_amd64.go).
const amxChosen = 0
