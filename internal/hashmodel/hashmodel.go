// Package hashmodel builds the full-size BLIP checkpoint of testdata/golden/HASHMODEL.md: every
// parameter of a BLIP-large-shaped model takes values computed from its own name, so that
// anyone can rebuild the exact same weights without a download and compare against the
// references transformers computed from them.
package hashmodel

import (
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/imagesemantics/blipgo/internal/arch"
	"github.com/imagesemantics/blipgo/safetensors"
)

// Tokenizer files of bert-base-uncased with BLIP's [DEC] and [ENC], as the real
// Salesforce/blip-image-captioning-large snapshot ships them.
//
//go:embed bert-base-uncased
var tokenizerFiles embed.FS

// ConfigJSON is the config.json of the hash model: BLIP-large shapes.
const ConfigJSON = `{
  "architectures": ["BlipForConditionalGeneration"],
  "model_type": "blip",
  "projection_dim": 512,
  "image_text_hidden_size": 256,
  "tie_word_embeddings": true,
  "text_config": {
    "model_type": "blip_text_model",
    "vocab_size": 30524,
    "hidden_size": 768,
    "encoder_hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 512,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "bos_token_id": 30522,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "sep_token_id": 102,
    "is_decoder": true,
    "use_cache": true,
    "tie_word_embeddings": true
  },
  "vision_config": {
    "model_type": "blip_vision_model",
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 384,
    "patch_size": 16,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-05
  }
}
`

// PreprocessorJSON is BLIP-large's preprocessor_config.json.
const PreprocessorJSON = `{
  "do_convert_rgb": true,
  "do_normalize": true,
  "do_rescale": true,
  "do_resize": true,
  "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_processor_type": "BlipImageProcessor",
  "image_std": [0.26862954, 0.26130258, 0.27577711],
  "resample": 3,
  "rescale_factor": 0.00392156862745098,
  "size": {"height": 384, "width": 384}
}
`

// Seed is FNV-1a 64 of the parameter name.
func Seed(name string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 0x100000001b3
	}
	return h
}

func splitmix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// Scale is the power-of-two factor applied to the integers r of a parameter, and Offset the
// constant added (1 for layer-norm weights), by the rule of HASHMODEL.md.
func Scale(name string, shape []int) (scale, offset float64) {
	switch {
	case len(shape) == 1 && strings.HasSuffix(name, "weight"):
		return math.Ldexp(1, -18), 1
	case len(shape) == 1:
		return math.Ldexp(1, -18), 0
	case len(shape) == 3 && (strings.Contains(name, "class_embedding") || strings.Contains(name, "position_embedding")):
		return math.Ldexp(1, -16), 0
	}
	fanIn := 1
	for _, d := range shape[1:] {
		fanIn *= d
	}
	e := int(math.RoundToEven(math.Log2(float64(fanIn)/3) / 2))
	return math.Ldexp(1, -(15 + e)), 0
}

// Fill writes elements [first, first+len(dst)) of the named parameter into dst.
func Fill(name string, shape []int, dst []float32, first int) {
	seed := Seed(name)
	scale, offset := Scale(name, shape)
	for i := range dst {
		z := splitmix64(seed + uint64(first+i+1)*0x9E3779B97F4A7C15)
		r := int64(z>>48) - 32768
		dst[i] = float32(offset + float64(r)*scale)
	}
}

// Write writes the hash model as a Hugging Face snapshot into dir: config.json,
// preprocessor_config.json, the tokenizer files and model.safetensors in F32 (tied tensors
// stored once, as save_pretrained does).
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := arch.ParseConfig([]byte(ConfigJSON))
	if err != nil {
		return fmt.Errorf("hashmodel: %v", err)
	}
	files := map[string]string{"config.json": ConfigJSON, "preprocessor_config.json": PreprocessorJSON}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	for _, name := range []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json"} {
		data, err := tokenizerFiles.ReadFile("bert-base-uncased/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	var tensors []safetensors.WriteTensor
	a, err := arch.Find(cfg, nil)
	if err != nil {
		return err
	}
	for _, p := range a.Params(cfg) {
		tensors = append(tensors, safetensors.WriteTensor{
			Name: p.Name, DType: safetensors.F32, Shape: p.Shape,
			Fill: func(dst []float32, first int) { Fill(p.Name, p.Shape, dst, first) },
		})
	}
	// Write to a temporary name and rename, so that an interrupted run never leaves a
	// truncated checkpoint behind under the real name.
	final := filepath.Join(dir, safetensors.SingleFileName)
	tmp, err := os.CreateTemp(dir, ".model-*.safetensors")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	meta := map[string]string{"format": "pt", "source": "blipgo hashmodel (HASHMODEL.md)"}
	if err := safetensors.Write(tmp, tensors, meta); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), final)
}
