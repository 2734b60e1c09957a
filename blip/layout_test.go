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

// writeEveryKey rewrites blip-tiny-a the way the golden VQA checkpoint is stored: every
// state_dict key written, the tied decoder weight and bias included, in bfloat16. tiedValue
// gives the values written under the tied decoder weight's own name.
func writeEveryKey(t *testing.T, tiedValue func([]float32) []float32) string {
	dir := snapshotCopy(t, "blip-tiny-a")
	src, err := safetensors.OpenCheckpoint(golden.Path("models", "blip-tiny-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ts []safetensors.WriteTensor
	add := func(name, from string, f func([]float32) []float32) {
		v, err := src.Float32(from)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := src.Shape(from)
		ts = append(ts, safetensors.WriteTensor{Name: name, DType: safetensors.BF16, Shape: shape, Values: f(v)})
	}
	same := func(v []float32) []float32 { return v }
	for _, n := range src.Names() {
		add(n, n, same)
	}
	add("text_decoder.cls.predictions.decoder.weight", "text_decoder.bert.embeddings.word_embeddings.weight", tiedValue)
	add("text_decoder.cls.predictions.decoder.bias", "text_decoder.cls.predictions.bias", same)
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEveryKeyLayout: such a checkpoint loads (the tied copies count as used), and the LM head
// takes the word embeddings, as transformers ties it, whatever the copy holds.
func TestEveryKeyLayout(t *testing.T) {
	var ids [][]int
	for _, tied := range []func([]float32) []float32{
		func(v []float32) []float32 { return v },
		func(v []float32) []float32 { return make([]float32, len(v)) }, // a stale copy: ignored
	} {
		m, err := Load(writeEveryKey(t, tied))
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.Caption(context.Background(), loadImage(t, m, "chelsea"))
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bfloat16 weights: %v %q", c.IDs, c.Text)
		ids = append(ids, c.IDs)
	}
	if !slices.Equal(ids[0], ids[1]) || len(ids[0]) < 3 {
		t.Errorf("the LM head did not follow the word embeddings: %v vs %v", ids[0], ids[1])
	}
}
