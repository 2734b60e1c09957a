package blip

import (
	"context"
	"slices"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestBFloat16Agreement runs every golden captioning case with the opt-in bfloat16 products and
// reports how many give transformers' float32 ids. bfloat16 keeps 8 bits of mantissa, so the
// random tiny models, whose top-2 gaps are often under 0.05, may take other tokens; the test
// asserts only what must hold (the vision output stays near float32's, every caption is a
// well-formed sequence) and logs the agreement, which the README records.
func TestBFloat16Agreement(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]*Model{}
	agree, total := 0, 0
	for _, g := range cases.Generate {
		m := models[g.Model]
		if m == nil {
			m, err = Load(golden.Path("models", g.Model), BFloat16())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			models[g.Model] = m
		}
		c, err := m.Caption(context.Background(), loadImage(t, m, g.Image), optionsOf(g)...)
		if err != nil {
			t.Fatal(err)
		}
		if c.IDs[0] != m.Config.TextConfig.BosTokenID {
			t.Errorf("%s %s %s: ids %v", g.Model, g.Image, g.Name, c.IDs)
		}
		total++
		if slices.Equal(c.IDs, g.IDs) {
			agree++
		} else {
			t.Logf("differs: %s %s %s", g.Model, g.Image, g.Name)
		}
	}
	t.Logf("bfloat16: %d of %d golden captions identical to transformers' float32", agree, total)
	for _, v := range cases.Vision {
		m := models[v.Model]
		want, _, err := golden.Tensor(v.File, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Encode(context.Background(), loadImage(t, m, v.Image))
		if err != nil {
			t.Fatal(err)
		}
		d, mean := golden.MaxAbsDiff(got.Data, want)
		t.Logf("bfloat16 %s %s: vision max |diff| %.3g, mean %.3g", v.Model, v.Image, d, mean)
		if mean > 0.05 {
			t.Errorf("%s %s: bfloat16 vision output drifted (mean |diff| %.3g)", v.Model, v.Image, mean)
		}
	}
}
