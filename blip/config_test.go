package blip

import (
	"os"
	"strings"
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

// TestConfigRefused: each config.json that describes a model this package cannot run is
// refused with an error naming the section and the key at fault.
func TestConfigRefused(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"vision_config": {"num_channels": 1}}`, "vision_config: num_channels 1"},
		{`{"vision_config": {"hidden_act": "relu"}}`, `vision_config: hidden_act "relu"`},
		{`{"vision_config": {"layer_norm_eps": 0}}`, "vision_config: layer_norm_eps"},
		{`{"vision_config": {"hidden_size": 100, "num_attention_heads": 16}}`, "vision_config: hidden_size 100 is not a multiple of num_attention_heads 16"},
		{`{"vision_config": {"image_size": 385, "patch_size": 16}}`, "vision_config: image_size 385 must be a positive multiple of patch_size 16"},
		{`{"vision_config": {"intermediate_size": 100000}}`, "vision_config: hidden_size 768, intermediate_size 100000"},
		{`{"text_config": {"hidden_act": "relu"}}`, `text_config: hidden_act "relu"`},
		{`{"text_config": {"layer_norm_eps": -1}}`, "text_config: layer_norm_eps"},
		{`{"text_config": {"hidden_size": 100, "num_attention_heads": 16}}`, "text_config: hidden_size 100 is not a multiple of num_attention_heads 16"},
		{`{"text_config": {"sep_token_id": 99999}}`, "text_config: sep_token_id 99999 outside the vocabulary"},
		{`{"text_config": {"bos_token_id": -1}}`, "text_config: bos_token_id -1 outside the vocabulary"},
		{`{"text_config": {"max_position_embeddings": 1048576}}`, "text_config: sizes beyond any BLIP"},
	} {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.json, err, c.want)
		}
	}
}
