//go:build amd64 && !noasm

package kernels

import "testing"

// TestTileConfig checks LDTILECFG's operand for a one- and a two-row tile grid with a short
// step: palette 1, bytes per row and rows of each tile, nothing else set.
func TestTileConfig(t *testing.T) {
	for _, c := range []struct {
		mr, pairs int
		colsb     [8]int
		rows      [8]int
	}{
		{5, 16, [8]int{64, 64, 0, 0, 64, 0, 64, 64}, [8]int{5, 5, 0, 0, 5, 0, 16, 16}},
		{27, 3, [8]int{64, 64, 64, 64, 12, 12, 64, 64}, [8]int{16, 16, 11, 11, 16, 11, 3, 3}},
	} {
		var cfg tileConfig
		cfg.set(c.mr, c.pairs)
		want := tileConfig{0: 1}
		for i := range 8 {
			want[16+2*i] = byte(c.colsb[i])
			want[48+i] = byte(c.rows[i])
		}
		if cfg != want {
			t.Errorf("mr %d pairs %d: %v, want %v", c.mr, c.pairs, cfg, want)
		}
	}
}
