package blip

import (
	"os"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// FuzzParseConfig: no config.json makes the parser panic, and what it accepts has usable sizes.
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
		if v.HiddenSize%v.NumAttentionHeads != 0 || v.ImageSize%v.PatchSize != 0 || x.HiddenSize%x.NumAttentionHeads != 0 {
			t.Fatalf("accepted unusable sizes: %+v", c)
		}
	})
}
