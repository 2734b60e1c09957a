//go:build (amd64 || arm64) && !noasm

package kernels

import "testing"

// TestNextRows: only a full tile's kernel prefetches, at most a tile of rows, and only rows
// that C holds below it.
func TestNextRows(t *testing.T) {
	const mrMax, nr = 14, 32
	for _, c := range []struct {
		mr, rows, ldc, want int // rows: how many rows of C the slice holds from the tile's first
	}{
		{14, 577, 4096, 14}, // a tile with a whole tile below it
		{14, 20, 4096, 6},   // six rows below
		{14, 14, 4096, 0},   // the last tile
		{13, 577, 4096, 0},  // not a full tile: a product's last rows or a decode step
		{14, 28, 32, 14},    // rows exactly NR wide
		{14, 577, 16, 0},    // ldc below NR: not rows of C
	} {
		buf := make([]float32, (c.rows-1)*c.ldc+nr)
		if got := nextRows(c.mr, mrMax, nr, buf, c.ldc); got != c.want {
			t.Errorf("mr %d, %d rows of stride %d: nextRows %d, want %d", c.mr, c.rows, c.ldc, got, c.want)
		}
	}
}
