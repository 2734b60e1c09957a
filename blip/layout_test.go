package blip

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
	"github.com/imagesemantics/blipgo/safetensors"
)

// TestEveryKeyLayout rewrites blip-tiny-a the way the golden VQA checkpoint is stored: every
// state_dict key written, the tied decoder weight and bias included, in bfloat16. It must load
// (the tied copies count as used) with the LM head tied to the word embeddings.
func TestEveryKeyLayout(t *testing.T) {
	dir := snapshotCopy(t, "blip-tiny-a")
	src, err := safetensors.OpenCheckpoint(golden.Path("models", "blip-tiny-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ts []safetensors.WriteTensor
	add := func(name, from string) {
		v, err := src.Float32(from)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := src.Shape(from)
		ts = append(ts, safetensors.WriteTensor{Name: name, DType: safetensors.BF16, Shape: shape, Values: v})
	}
	for _, n := range src.Names() {
		add(n, n)
	}
	add("text_decoder.cls.predictions.decoder.weight", "text_decoder.bert.embeddings.word_embeddings.weight")
	add("text_decoder.cls.predictions.decoder.bias", "text_decoder.cls.predictions.bias")
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !slices.Equal(m.Decoder.Head.Decoder.Weight.Data[:64], m.Decoder.Embeddings.WordEmbeddings.Weight.Data[:64]) {
		t.Error("LM head is not tied to the word embeddings")
	}
	c, err := m.Caption(context.Background(), loadImage(t, m, "chelsea"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bfloat16 weights: %v %q", c.IDs, c.Text)
	if c.IDs[0] != m.Config.TextConfig.BosTokenID || len(c.IDs) < 2 {
		t.Errorf("ids %v", c.IDs)
	}
}
