package translate

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestConfigRefused: every check of ParseConfig refuses what it names, with a message saying
// which, and accepts what sits on its bounds.
func TestConfigRefused(t *testing.T) {
	base := map[string]any{
		"model_type": "marian", "vocab_size": 10, "d_model": 8, "encoder_layers": 1, "decoder_layers": 1,
		"encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 16, "decoder_ffn_dim": 16,
		"max_position_embeddings": 32, "pad_token_id": 9, "eos_token_id": 0, "decoder_start_token_id": 9,
	}
	with := func(changes map[string]any) []byte {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const positive, beyond = "must be positive", "sizes beyond any MarianMT"
	for _, c := range []struct {
		changes map[string]any
		want    string // "" accepted
	}{
		{nil, ""},
		{map[string]any{"model_type": ""}, ""},
		{map[string]any{"model_type": "bart"}, `model_type "bart" is not "marian"`},
		{map[string]any{"vocab_size": 0}, positive},
		{map[string]any{"d_model": 0}, positive},
		{map[string]any{"encoder_layers": 0}, positive},
		{map[string]any{"decoder_layers": -1}, positive},
		{map[string]any{"encoder_attention_heads": 0}, positive},
		{map[string]any{"decoder_attention_heads": 0}, positive},
		{map[string]any{"encoder_ffn_dim": 0}, positive},
		{map[string]any{"decoder_ffn_dim": 0}, positive},
		{map[string]any{"max_position_embeddings": 0}, positive},
		{map[string]any{"d_model": maxWidth, "encoder_ffn_dim": maxWidth, "decoder_ffn_dim": maxWidth, "encoder_layers": maxLayers,
			"decoder_layers": maxLayers, "vocab_size": maxVocab, "max_position_embeddings": maxWidth}, ""},
		{map[string]any{"d_model": 2 * maxWidth}, beyond},
		{map[string]any{"encoder_ffn_dim": maxWidth + 1}, beyond},
		{map[string]any{"decoder_ffn_dim": maxWidth + 1}, beyond},
		{map[string]any{"encoder_layers": maxLayers + 1}, beyond},
		{map[string]any{"decoder_layers": maxLayers + 1}, beyond},
		{map[string]any{"vocab_size": maxVocab + 1}, beyond},
		{map[string]any{"max_position_embeddings": maxWidth + 1}, beyond},
		{map[string]any{"encoder_attention_heads": 3}, "d_model 8 is not a multiple of the head counts"},
		{map[string]any{"decoder_attention_heads": 3}, "d_model 8 is not a multiple of the head counts"},
		{map[string]any{"normalize_before": true}, "normalize_before (pre-norm) is not supported"},
		{map[string]any{"share_encoder_decoder_embeddings": true, "decoder_vocab_size": 10}, ""},
		{map[string]any{"share_encoder_decoder_embeddings": false}, "separate source and target vocabularies"},
		{map[string]any{"decoder_vocab_size": 11}, "separate source and target vocabularies"},
		{map[string]any{"pad_token_id": 10}, "pad_token_id 10 outside the vocabulary of 10"},
		{map[string]any{"eos_token_id": -1}, "eos_token_id -1 outside the vocabulary of 10"},
		{map[string]any{"decoder_start_token_id": 10}, "decoder_start_token_id 10 outside the vocabulary of 10"},
		{map[string]any{"activation_function": "swish"}, ""},
		{map[string]any{"activation_function": "softmax"}, "softmax"},
	} {
		cfg, err := ParseConfig(with(c.changes))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: refused: %v", c.changes, err)
		case c.want == "" && cfg == nil:
			t.Errorf("%v: no config", c.changes)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want %q", c.changes, err, c.want)
		}
	}
}
