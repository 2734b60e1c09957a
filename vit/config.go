package vit

import (
	"encoding/json"
	"fmt"
)

// Config mirrors the "vision_config" of a BLIP config.json (transformers' BlipVisionConfig).
// Keys absent from the file keep transformers' defaults (DefaultConfig).
type Config struct {
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	ProjectionDim     int     `json:"projection_dim"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumChannels       int     `json:"num_channels"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	AttentionDropout  float64 `json:"attention_dropout"`
	InitializerRange  float64 `json:"initializer_range"`
}

// DefaultConfig is BlipVisionConfig's defaults.
func DefaultConfig() Config {
	return Config{
		HiddenSize: 768, IntermediateSize: 3072, ProjectionDim: 512,
		NumHiddenLayers: 12, NumAttentionHeads: 12, NumChannels: 3,
		ImageSize: 384, PatchSize: 16, HiddenAct: "gelu",
		LayerNormEps: 1e-5, InitializerRange: 1e-10,
	}
}

// ParseConfig reads a vision_config object over the defaults. A missing object (null) gives
// the defaults.
func ParseConfig(data json.RawMessage) (Config, error) {
	c := DefaultConfig()
	if len(data) > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			return c, fmt.Errorf("vision_config: %v", err)
		}
	}
	return c, c.Validate()
}

// NumPatches is the number of patches along one side.
func (c *Config) NumPatches() int { return c.ImageSize / c.PatchSize }

// SeqLen is the number of tokens the encoder produces: the class token plus one per patch.
func (c *Config) SeqLen() int { return 1 + c.NumPatches()*c.NumPatches() }

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// Bounds on a config's sizes, far beyond any BLIP (BLIP-large: hidden 1024, intermediate
// 4096, 24 layers, 384 pixels): a hostile config.json is refused before anything is allocated
// from it.
const (
	MaxWidth     = 1 << 16
	MaxLayers    = 512
	MaxImageSize = 8192
)

// Validate checks that the sizes describe a model this package can run.
func (c *Config) Validate() error {
	switch {
	case c.HiddenSize <= 0 || c.IntermediateSize <= 0 || c.NumHiddenLayers <= 0 || c.NumAttentionHeads <= 0:
		return fmt.Errorf("vision_config: hidden_size, intermediate_size, num_hidden_layers and num_attention_heads must be positive")
	case c.HiddenSize > MaxWidth || c.IntermediateSize > MaxWidth || c.NumHiddenLayers > MaxLayers || c.ImageSize > MaxImageSize:
		return fmt.Errorf("vision_config: hidden_size %d, intermediate_size %d, num_hidden_layers %d or image_size %d is beyond any BLIP (at most %d, %d, %d and %d)",
			c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.ImageSize, MaxWidth, MaxWidth, MaxLayers, MaxImageSize)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("vision_config: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	case c.PatchSize <= 0 || c.ImageSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vision_config: image_size %d must be a positive multiple of patch_size %d", c.ImageSize, c.PatchSize)
	case c.NumChannels != 3:
		return fmt.Errorf("vision_config: num_channels %d: only RGB (3) is supported", c.NumChannels)
	case c.HiddenAct != "gelu":
		return fmt.Errorf("vision_config: hidden_act %q: only \"gelu\" is supported", c.HiddenAct)
	case c.LayerNormEps <= 0:
		return fmt.Errorf("vision_config: layer_norm_eps must be positive")
	}
	return nil
}
