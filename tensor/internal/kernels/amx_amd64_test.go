//go:build amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

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
	if list, best := chooseBF16(amx, nil, vec, generic, "", 0); best.Name != "amx" || len(list) != 3 || !list[2].Emulated {
		t.Errorf("with AMX: best %s, list %d", best.Name, len(list))
	}
	// The column families follow the AMX family, except the one a build chooses, which leads.
	exps := []BF16{{Name: "col", Micro: genericBF16Micro, Tiles: true}, {Name: "cols", Micro: genericBF16Micro, Tiles: true}}
	for chosen, want := range []string{"amx col cols vec go-bf16", "col amx cols vec go-bf16", "cols amx col vec go-bf16"} {
		list, best := chooseBF16(amx, exps, vec, generic, "", chosen)
		var names []string
		for _, k := range list {
			names = append(names, k.Name)
		}
		if got := strings.Join(names, " "); got != want || best.Name != list[0].Name {
			t.Errorf("chosen %d: best %s, list %s; want %s", chosen, best.Name, got, want)
		}
	}
	if exps[0].Name != "col" || exps[1].Name != "cols" {
		t.Errorf("the experiments' list was changed: %s %s", exps[0].Name, exps[1].Name)
	}
	if list, best := chooseBF16(BF16{}, nil, vec, generic, "", 0); best.Name != "vec" || len(list) != 2 || best.Note != "" {
		t.Errorf("without AMX: best %s (%q), list %d", best.Name, best.Note, len(list))
	}
	list, best := chooseBF16(BF16{}, nil, vec, generic, "arch_prctl(ARCH_REQ_XCOMP_PERM): invalid argument", 0)
	if !best.Emulated || best.Note != "amx refused: arch_prctl(ARCH_REQ_XCOMP_PERM): invalid argument" || list[0].Name != "vec" || generic.Note != "" {
		t.Errorf("AMX refused: best %s (%q), list[0] %s", best.Name, best.Note, list[0].Name)
	}
}

func genericBF16Micro(mr, kp int, a []uint32, lda int, b []uint32, c []float32, ldc int, accumulate bool) {
	genericBF16(32, mr, kp, a, lda, b, c, ldc, accumulate)
}

// amxModels are descriptions of how TDPBF16PS rounds one step of the AMX kernel: c, a tile
// element of C as the step finds it, and the step's pairs' products, even (low) element and odd
// (high) element of each pair in order of k; each product of two bfloat16 values is exact in
// float32.
var amxModels = []struct {
	name string
	step func(c float32, even, odd []float32) float32
}{
	// The chains (as genericAMX sums them) added to C one after the other.
	{"chains-into-c", func(c float32, even, odd []float32) float32 {
		var e, o float32
		for i := range even {
			e += even[i]
			o += odd[i]
		}
		return (c + e) + o
	}},
	// One chain into C, pair by pair, even element first (the intrinsics guide's order).
	{"chain", func(c float32, even, odd []float32) float32 {
		for i := range even {
			c += even[i]
			c += odd[i]
		}
		return c
	}},
	// Every product and C summed exactly, rounded once.
	{"exact", func(c float32, even, odd []float32) float32 {
		s := float64(c)
		for i := range even {
			s += float64(even[i]) + float64(odd[i])
		}
		return float32(s)
	}},
}

// BenchmarkAMXRounding reports the percentage of tile elements of random one-step products
// (16 pairs, values over 12 binades, C preloaded) that the AMX kernel computes bit for bit as
// its twin genericAMX does ("twin%"), and as each of amxModels, the other orders measured,
// does (skipped without AMX). A measurement of the hardware, not of speed: on the device
// machine's Xeon the twin matched 100%, chains-into-c 73%, exact 42%, chain 34%.
func BenchmarkAMXRounding(b *testing.B) {
	if !BestBF16().Tiles {
		b.Skip("no AMX")
	}
	k := BestBF16()
	const mr, kp = 16, 16
	nr := k.NR
	r := rand.New(rand.NewPCG(3, 3))
	rnd := func() float32 { return float32(r.NormFloat64() * math.Exp2(float64(r.IntN(12)-6))) }
	matches := make([]int, len(amxModels))
	total, twin := 0, 0
	even, odd := make([]float32, kp), make([]float32, kp)
	for b.Loop() {
		a, bw, c := make([]uint32, mr*kp), make([]uint32, kp*nr), make([]float32, mr*nr)
		for i := range a {
			ToBF16Pairs(a[i:i+1], []float32{rnd(), rnd()})
		}
		for i := range bw {
			ToBF16Pairs(bw[i:i+1], []float32{rnd(), rnd()})
		}
		for i := range c {
			c[i] = rnd()
		}
		got, want := append([]float32(nil), c...), append([]float32(nil), c...)
		k.Micro(mr, kp, a, kp, bw, got, nr, true)
		genericAMX(nr, mr, kp, a, kp, bw, want, nr, true)
		for i := range got {
			if got[i] == want[i] {
				twin++
			}
		}
		for row := range mr {
			for j := range nr {
				for p := range kp {
					aw, w := a[row*kp+p], bw[p*nr+j]
					even[p], odd[p] = lo(aw)*lo(w), hi(aw)*hi(w)
				}
				for i, m := range amxModels {
					if m.step(c[row*nr+j], even, odd) == got[row*nr+j] {
						matches[i]++
					}
				}
				total++
			}
		}
	}
	b.ReportMetric(100*float64(twin)/float64(total), "twin%")
	for i, m := range amxModels {
		b.ReportMetric(100*float64(matches[i])/float64(total), m.name+"%")
	}
}
