// Package bert is BLIP's BERT-style text model (BlipTextModel): token and position
// embeddings, layers of self-attention (causal for a decoder, bidirectional for an encoder),
// optional cross-attention to encoder states and a feed-forward block (all post-norm); and,
// apart, the language-model head (LMHead) a decoder puts on top.
//
// Decoding keeps a self-attention key/value Cache per sequence and computes the
// cross-attention keys and values of a source (an image, a question) once (Model.Cross), not
// at every step. Encoding runs each sequence at its own length (Model.Encode).
package bert

import (
	"encoding/json"
	"fmt"
)

// Config mirrors the "text_config" of a BLIP config.json (transformers' BlipTextConfig). Keys
// absent from the file keep transformers' defaults (DefaultConfig).
type Config struct {
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	EncoderHiddenSize     int     `json:"encoder_hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	ProjectionDim         int     `json:"projection_dim"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	HiddenDropoutProb     float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropout float64 `json:"attention_probs_dropout_prob"`
	InitializerRange      float64 `json:"initializer_range"`
	BosTokenID            int     `json:"bos_token_id"`
	EosTokenID            int     `json:"eos_token_id"`
	PadTokenID            int     `json:"pad_token_id"`
	SepTokenID            int     `json:"sep_token_id"`
	IsDecoder             bool    `json:"is_decoder"`
	UseCache              bool    `json:"use_cache"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
}

// DefaultConfig is BlipTextConfig's defaults.
func DefaultConfig() Config {
	return Config{
		VocabSize: 30524, HiddenSize: 768, EncoderHiddenSize: 768, IntermediateSize: 3072,
		ProjectionDim: 768, NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 512,
		HiddenAct: "gelu", LayerNormEps: 1e-12, InitializerRange: 0.02,
		BosTokenID: 30522, EosTokenID: 2, PadTokenID: 0, SepTokenID: 102,
		IsDecoder: true, UseCache: true, TieWordEmbeddings: true,
	}
}

// ParseConfig reads a text_config object over the defaults.
func ParseConfig(data json.RawMessage) (Config, error) {
	c := DefaultConfig()
	if len(data) > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			return c, fmt.Errorf("text_config: %v", err)
		}
	}
	return c, c.Validate()
}

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// Bounds on a config's sizes, far beyond any BLIP (BLIP-large's text: hidden 768, 12 layers,
// 30,524 tokens, 512 positions): a hostile config.json is refused before anything is
// allocated from it.
const (
	MaxWidth     = 1 << 16
	MaxLayers    = 512
	MaxVocab     = 1 << 22
	MaxPositions = 1 << 16
)

// Validate checks that the sizes describe a model this package can run.
func (c *Config) Validate() error {
	switch {
	case c.VocabSize <= 0 || c.HiddenSize <= 0 || c.EncoderHiddenSize <= 0 || c.IntermediateSize <= 0 ||
		c.NumHiddenLayers <= 0 || c.NumAttentionHeads <= 0 || c.MaxPositionEmbeddings <= 0:
		return fmt.Errorf("text_config: vocab_size, hidden_size, encoder_hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and max_position_embeddings must be positive")
	case c.HiddenSize > MaxWidth || c.EncoderHiddenSize > MaxWidth || c.IntermediateSize > MaxWidth ||
		c.NumHiddenLayers > MaxLayers || c.VocabSize > MaxVocab || c.MaxPositionEmbeddings > MaxPositions:
		return fmt.Errorf("text_config: sizes beyond any BLIP (hidden, encoder_hidden and intermediate sizes at most %d, %d layers, a vocabulary of %d, %d positions)",
			MaxWidth, MaxLayers, MaxVocab, MaxPositions)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("text_config: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	case c.HiddenAct != "gelu":
		return fmt.Errorf("text_config: hidden_act %q: only \"gelu\" is supported", c.HiddenAct)
	case c.LayerNormEps <= 0:
		return fmt.Errorf("text_config: layer_norm_eps must be positive")
	}
	for name, id := range map[string]int{"bos_token_id": c.BosTokenID, "pad_token_id": c.PadTokenID, "sep_token_id": c.SepTokenID} {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("text_config: %s %d outside the vocabulary of %d", name, id, c.VocabSize)
		}
	}
	return nil
}
