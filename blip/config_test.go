package blip

import (
	"os"
	"testing"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/internal/arch"
	"github.com/imagesemantics/blipgo/vit"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// FuzzParseConfig: no config.json makes the parser panic, what it accepts has usable sizes
// within the bounds, and its model is declared (every architecture's modules) without panic.
func FuzzParseConfig(f *testing.F) {
	for _, m := range []string{"blip-tiny-a", "blip-tiny-b"} {
		b, err := os.ReadFile(golden.Path("models", m, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"text_config": {"num_attention_heads": 0}}`))
	f.Add([]byte(`{"vision_config": {"patch_size": 0, "image_size": 0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		v, x := c.VisionConfig, c.TextConfig
		if v.HiddenSize%v.NumAttentionHeads != 0 || v.ImageSize%v.PatchSize != 0 || x.HiddenSize%x.NumAttentionHeads != 0 ||
			v.NumHiddenLayers > vit.MaxLayers || x.NumHiddenLayers > bert.MaxLayers {
			t.Fatalf("accepted unusable sizes: %+v", c)
		}
		for _, a := range arch.Architectures {
			if n := len(a.Params(c)); n == 0 {
				t.Fatalf("%s declares no parameters", a.Name)
			}
		}
	})
}

// TestConfigBounds: sizes no BLIP has are refused at once, before a model is declared (a
// num_hidden_layers of 1e8 ran out of memory; 1e6 took 22 s and a 600 MB error).
func TestConfigBounds(t *testing.T) {
	for _, c := range []string{
		`{"text_config": {"num_hidden_layers": 100000000}}`,
		`{"text_config": {"num_hidden_layers": 1000000}}`,
		`{"vision_config": {"num_hidden_layers": 1000000}}`,
		`{"text_config": {"vocab_size": 1000000000}}`,
		`{"vision_config": {"image_size": 1048576, "patch_size": 16}}`,
		`{"image_text_hidden_size": 1000000000}`,
	} {
		if _, err := ParseConfig([]byte(c)); err == nil || len(err.Error()) > 300 {
			t.Errorf("%s: %v", c, err)
		}
	}
}
