package vit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/panics"
	"github.com/imagesemantics/blipgo/tensor"
)

// TestParseConfig: no vision_config (nil or null) is BlipVisionConfig's defaults; every size
// is refused at zero and one past its bound and taken at the bound, each on its own.
func TestParseConfig(t *testing.T) {
	for _, data := range []string{"", "null", "{}"} {
		if c, err := ParseConfig([]byte(data)); err != nil || c != DefaultConfig() {
			t.Errorf("%q: %+v, %v; want the defaults", data, c, err)
		}
	}
	const positive, beyond, multiple = "must be positive", "beyond any BLIP", "must be a positive multiple of patch_size"
	for _, c := range []struct{ json, want string }{
		{`{"hidden_size": 0}`, positive},
		{`{"intermediate_size": 0}`, positive},
		{`{"num_hidden_layers": 0}`, positive},
		{`{"num_attention_heads": 0}`, positive},
		{`{"patch_size": 0}`, multiple},
		{`{"image_size": 0}`, multiple},
		{`{"image_size": -16}`, multiple},
		{fmt.Sprintf(`{"hidden_size": %d, "num_attention_heads": 1}`, MaxWidth), ""},
		{fmt.Sprintf(`{"hidden_size": %d, "num_attention_heads": 1}`, MaxWidth+1), beyond},
		{fmt.Sprintf(`{"intermediate_size": %d}`, MaxWidth), ""},
		{fmt.Sprintf(`{"intermediate_size": %d}`, MaxWidth+1), beyond},
		{fmt.Sprintf(`{"num_hidden_layers": %d}`, MaxLayers), ""},
		{fmt.Sprintf(`{"num_hidden_layers": %d}`, MaxLayers+1), beyond},
		{fmt.Sprintf(`{"image_size": %d, "patch_size": 16}`, MaxImageSize), ""},
		{fmt.Sprintf(`{"image_size": %d, "patch_size": 16}`, MaxImageSize+16), beyond},
	} {
		_, err := ParseConfig([]byte(c.json))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.json, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.json, err, c.want)
		}
	}
}

// TestForwardShape: an output of another shape than [SeqLen, HiddenSize] is a programming
// error, named before anything is computed.
func TestForwardShape(t *testing.T) {
	c := DefaultConfig()
	c.ImageSize, c.PatchSize, c.HiddenSize, c.NumAttentionHeads, c.NumHiddenLayers = 32, 16, 8, 2, 1
	m := New(c)
	for _, shape := range [][2]int{{c.SeqLen() + 1, c.HiddenSize}, {c.SeqLen(), c.HiddenSize + 1}} {
		if !panics.With(func() {
			m.Forward(t.Context(), tensor.NewPool(1), tensor.New(shape[0], shape[1]), make([]float32, 3*32*32))
		}, "vit: output") {
			t.Errorf("output %v: no panic naming it", shape)
		}
	}
}
