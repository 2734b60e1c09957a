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

// TestChooseBF16: AMX when granted; AVX512-BF16 on a CPU without AMX (Zen 4/5); and where the
// OS refuses the tiles, the pure-Go twin with the reason as its Note, which the precisions
// read as "run float32" (that CPU's VDPBF16PS is slower than its FMA).
func TestChooseBF16(t *testing.T) {
	amx, vec, generic := BF16{Name: "amx", Micro: genericBF16Micro, Tiles: true}, BF16{Name: "vec", Micro: genericBF16Micro}, GenericBF16(4, 32)
	if list, best := chooseBF16(amx, vec, generic, ""); best.Name != "amx" || len(list) != 3 || !list[2].Emulated {
		t.Errorf("with AMX: best %s, list %d", best.Name, len(list))
	}
	if list, best := chooseBF16(BF16{}, vec, generic, ""); best.Name != "vec" || len(list) != 2 || best.Note != "" {
		t.Errorf("without AMX: best %s (%q), list %d", best.Name, best.Note, len(list))
	}
	list, best := chooseBF16(BF16{}, vec, generic, "arch_prctl(ARCH_REQ_XCOMP_PERM): invalid argument")
	if !best.Emulated || best.Note != "amx refused: arch_prctl(ARCH_REQ_XCOMP_PERM): invalid argument" || list[0].Name != "vec" || generic.Note != "" {
		t.Errorf("AMX refused: best %s (%q), list[0] %s", best.Name, best.Note, list[0].Name)
	}
}

func genericBF16Micro(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
	genericBF16(32, mr, kp, a, lda, b, c, ldc, accumulate)
}
