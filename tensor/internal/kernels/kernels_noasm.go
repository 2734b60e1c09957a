//go:build !amd64 || noasm

package kernels

// Without assembly, the pure-Go kernel serves; read-only after start.
var (
	available = []Kernel{Generic(4, 16)}
	best      = available[0]
)
