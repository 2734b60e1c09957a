//go:build !noasm && !amxcol && !amxcols

package kernels

// amxChosen: amx-bf16, the AMX family (see amxcol_on_amd64.go).
const amxChosen = 0
