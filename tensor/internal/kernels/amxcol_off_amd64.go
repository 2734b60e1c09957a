//go:build !noasm && !amxcol

package kernels

// amxColumnsChosen: the AMX family, not the column experiment, is the AMX CPUs' bfloat16
// kernel (see amxcol_on_amd64.go).
const amxColumnsChosen = false
