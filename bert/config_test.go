package bert

import (
	"fmt"
	"strings"
	"testing"
)

// TestValidate: every size must be positive and at most its bound (each checked alone, at the
// bound and one past it), layer_norm_eps positive, and the special token ids inside the
// vocabulary (its last id taken, its size refused).
func TestValidate(t *testing.T) {
	sizes := []struct {
		name  string
		field func(*Config) *int
		max   int
	}{
		{"vocab_size", func(c *Config) *int { return &c.VocabSize }, MaxVocab},
		{"hidden_size", func(c *Config) *int { return &c.HiddenSize }, MaxWidth},
		{"encoder_hidden_size", func(c *Config) *int { return &c.EncoderHiddenSize }, MaxWidth},
		{"intermediate_size", func(c *Config) *int { return &c.IntermediateSize }, MaxWidth},
		{"num_hidden_layers", func(c *Config) *int { return &c.NumHiddenLayers }, MaxLayers},
		{"num_attention_heads", func(c *Config) *int { return &c.NumAttentionHeads }, 0},
		{"max_position_embeddings", func(c *Config) *int { return &c.MaxPositionEmbeddings }, MaxPositions},
	}
	check := func(what string, c Config, want string) {
		t.Helper()
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", what, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one saying %q", what, err, want)
		}
	}
	check("defaults", DefaultConfig(), "")
	for _, s := range sizes {
		for _, v := range []int{0, -1} {
			c := DefaultConfig()
			*s.field(&c) = v
			check(fmt.Sprintf("%s %d", s.name, v), c, "must be positive")
		}
		if s.max == 0 {
			continue
		}
		c := DefaultConfig()
		if s.name == "hidden_size" {
			c.NumAttentionHeads = 1
		}
		*s.field(&c) = s.max
		check(s.name+" at its bound", c, "")
		*s.field(&c) = s.max + 1
		check(s.name+" past its bound", c, "sizes beyond any BLIP")
	}
	c := DefaultConfig()
	c.LayerNormEps = 0
	check("layer_norm_eps 0", c, "layer_norm_eps must be positive")
	for _, name := range []string{"bos_token_id", "pad_token_id", "sep_token_id"} {
		id := func(c *Config) *int {
			return map[string]*int{"bos_token_id": &c.BosTokenID, "pad_token_id": &c.PadTokenID, "sep_token_id": &c.SepTokenID}[name]
		}
		c := DefaultConfig()
		*id(&c) = c.VocabSize - 1
		check(name+" the last id", c, "")
		*id(&c) = c.VocabSize
		check(name+" the vocabulary's size", c, name+" 30524 outside the vocabulary of 30524")
		*id(&c) = -1
		check(name+" -1", c, name+" -1 outside")
	}
}
