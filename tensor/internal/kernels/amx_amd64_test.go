//go:build amd64 && !noasm

package kernels

import (
	"fmt"
	"testing"

	"github.com/imagesemantics/blipgo/tensor/internal/kernels/approx"
)

// amxPrefetchDistances are the distances BenchmarkAMXPrefetch compares.
var amxPrefetchDistances = []int{0, 2048, 4096, 8192}

// amxWithPrefetch is the AMX family prefetching ahead bytes on; it skips without AMX.
func amxWithPrefetch(t testing.TB, ahead int) BF16 {
	if !BestBF16().Tiles {
		t.Skip("no AMX on this CPU, or the OS refused it")
	}
	return BF16{Name: fmt.Sprintf("amx-bf16/ahead=%d", ahead), MR: approx.AMXMR, NR: approx.AMXNR, Micro: amxMicro(ahead), Tiles: true}
}

// TestAMXPrefetchAgrees: whatever the prefetch distance, the AMX kernel gives the pure-Go
// twin's values (a prefetch changes none), one- and two-row tile grids, with a rest step.
func TestAMXPrefetchAgrees(t *testing.T) {
	for _, ahead := range amxPrefetchDistances {
		k := amxWithPrefetch(t, ahead)
		for _, mr := range []int{1, 3, 16, 17, 32} {
			runBF16(t, k, mr, 37, 5, 3, true, uint64(mr))
			runBF16(t, k, mr, 512, 16, 0, false, uint64(mr))
		}
	}
}

// BenchmarkAMXPrefetch times the AMX kernel on one row against weights streamed from memory,
// as a decode step's products run (the LM head: 384 pairs of k a panel, 64 MiB of panels each
// read once), for each prefetch distance, in GB/s of weights.
func BenchmarkAMXPrefetch(b *testing.B) {
	const kp = 384
	for _, ahead := range amxPrefetchDistances {
		k := amxWithPrefetch(b, ahead)
		panel := kp * k.NR
		nb := (64 << 20) / (4 * panel)
		a, bb, c := make([]uint32, kp), make([]uint32, nb*panel), make([]float32, k.NR)
		for i := range bb {
			bb[i] = 0x3f803f80 // 1.0, 1.0
		}
		b.Run(fmt.Sprint("ahead=", ahead), func(b *testing.B) {
			i := 0
			for b.Loop() {
				k.Micro(1, kp, a, kp, bb[i%nb*panel:], c, k.NR, false)
				i++
			}
			b.ReportMetric(float64(4*panel)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

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
