package hashmodel

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/imagesemantics/blipgo/internal/arch"
	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestCheckValues compares with the spot values HASHMODEL.md's authors published.
func TestCheckValues(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	chk := cases.Hashmodel.Check
	var seedA string
	json.Unmarshal(chk["fnv1a64('a')"], &seedA)
	if got := fmt.Sprintf("%#x", Seed("a")); got != seedA {
		t.Errorf("fnv1a64(a) = %s, want %s", got, seedA)
	}
	for _, c := range []struct {
		name  string
		shape []int
	}{
		{"vision_model.post_layernorm.bias", []int{1024}},
		{"text_decoder.bert.embeddings.word_embeddings.weight", []int{30524, 768}},
	} {
		var want []float32
		if err := json.Unmarshal(chk["first8("+c.name+")"], &want); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 8)
		Fill(c.name, c.shape, got, 0)
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s[%d] = %v, want %v", c.name, i, got[i], want[i])
			}
		}
	}
}

// TestParamsMatchReference: our model declares exactly the reference's parameters (names and
// shapes), so the written checkpoint is the one transformers built.
func TestParamsMatchReference(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := arch.ParseConfig([]byte(ConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]string{}
	a, err := arch.Find(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params(cfg) {
		ours[p.Name] = fmt.Sprint(p.Shape)
	}
	if len(ours) != len(cases.Hashmodel.Parameters) {
		t.Errorf("%d parameters, reference has %d", len(ours), len(cases.Hashmodel.Parameters))
	}
	for _, p := range cases.Hashmodel.Parameters {
		var name string
		var shape []int
		json.Unmarshal(p[0], &name)
		json.Unmarshal(p[1], &shape)
		if got, ok := ours[name]; !ok || got != fmt.Sprint(shape) {
			t.Errorf("%s: ours %q, reference %v", name, got, shape)
		}
	}
}
