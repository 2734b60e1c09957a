//go:build unix && !linux

package tensor

// adviseHugePages does nothing off Linux (see arena_linux.go).
func adviseHugePages([]byte) {}
