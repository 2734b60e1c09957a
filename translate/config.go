// Package translate runs MarianMT translation models (Helsinki-NLP/opus-mt-*) as transformers'
// MarianMTModel does, on blipgo's kernels and its generation package: a post-norm Transformer
// encoder-decoder with sinusoidal positions, embeddings scaled by √d_model and shared with the
// language-model head, final_logits_bias, and SentencePiece tokenizers (source.spm,
// target.spm) over a shared vocab.json.
package translate

import (
	"encoding/json"
	"fmt"
)

// Config mirrors a MarianMT config.json (transformers' MarianConfig).
type Config struct {
	Architectures       []string `json:"architectures"`
	ModelType           string   `json:"model_type"`
	VocabSize           int      `json:"vocab_size"`
	DModel              int      `json:"d_model"`
	EncoderLayers       int      `json:"encoder_layers"`
	DecoderLayers       int      `json:"decoder_layers"`
	EncoderHeads        int      `json:"encoder_attention_heads"`
	DecoderHeads        int      `json:"decoder_attention_heads"`
	EncoderFFN          int      `json:"encoder_ffn_dim"`
	DecoderFFN          int      `json:"decoder_ffn_dim"`
	MaxPositions        int      `json:"max_position_embeddings"`
	Activation          string   `json:"activation_function"`
	ScaleEmbedding      bool     `json:"scale_embedding"`
	NormalizeBefore     bool     `json:"normalize_before"`
	PadTokenID          int      `json:"pad_token_id"`
	EOSTokenID          int      `json:"eos_token_id"`
	DecoderStartTokenID int      `json:"decoder_start_token_id"`
	ForcedEOSTokenID    *int     `json:"forced_eos_token_id"`
	ShareEmbeddings     *bool    `json:"share_encoder_decoder_embeddings"`
	DecoderVocabSize    *int     `json:"decoder_vocab_size"`
}

// Bounds on a config's sizes, far beyond any MarianMT (opus-mt: d_model 512, 6+6 layers,
// 65,001 tokens): a hostile config.json is refused before anything is allocated from it.
const (
	maxWidth  = 1 << 16
	maxLayers = 256
	maxVocab  = 1 << 22
)

// ParseConfig reads config.json over MarianConfig's defaults.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{
		VocabSize: 58101, DModel: 1024, EncoderLayers: 12, DecoderLayers: 12, EncoderHeads: 16, DecoderHeads: 16,
		EncoderFFN: 4096, DecoderFFN: 4096, MaxPositions: 1024, Activation: "gelu", ScaleEmbedding: false,
		PadTokenID: 58100, EOSTokenID: 0, DecoderStartTokenID: 58100,
	}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("config.json: %v", err)
	}
	switch {
	case c.ModelType != "" && c.ModelType != "marian":
		return nil, fmt.Errorf("config.json: model_type %q is not \"marian\"", c.ModelType)
	case c.VocabSize <= 0 || c.DModel <= 0 || c.EncoderLayers <= 0 || c.DecoderLayers <= 0 || c.EncoderHeads <= 0 ||
		c.DecoderHeads <= 0 || c.EncoderFFN <= 0 || c.DecoderFFN <= 0 || c.MaxPositions <= 0:
		return nil, fmt.Errorf("config.json: sizes, layer and head counts must be positive")
	case c.DModel > maxWidth || c.EncoderFFN > maxWidth || c.DecoderFFN > maxWidth || c.EncoderLayers > maxLayers ||
		c.DecoderLayers > maxLayers || c.VocabSize > maxVocab || c.MaxPositions > maxWidth:
		return nil, fmt.Errorf("config.json: sizes beyond any MarianMT")
	case c.DModel%c.EncoderHeads != 0 || c.DModel%c.DecoderHeads != 0:
		return nil, fmt.Errorf("config.json: d_model %d is not a multiple of the head counts", c.DModel)
	case c.NormalizeBefore:
		return nil, fmt.Errorf("config.json: normalize_before (pre-norm) is not supported")
	case c.ShareEmbeddings != nil && !*c.ShareEmbeddings, c.DecoderVocabSize != nil && *c.DecoderVocabSize != c.VocabSize:
		return nil, fmt.Errorf("config.json: separate source and target vocabularies are not supported")
	}
	for name, id := range map[string]int{"pad_token_id": c.PadTokenID, "eos_token_id": c.EOSTokenID, "decoder_start_token_id": c.DecoderStartTokenID} {
		if id < 0 || id >= c.VocabSize {
			return nil, fmt.Errorf("config.json: %s %d outside the vocabulary of %d", name, id, c.VocabSize)
		}
	}
	if _, err := activation(c.Activation); err != nil {
		return nil, err
	}
	return c, nil
}
