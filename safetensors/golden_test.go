package safetensors_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
	. "github.com/imagesemantics/blipgo/safetensors"
)

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoldenCheckpoints(t *testing.T) {
	for _, c := range []struct {
		model string
		files int
		dtype DType
	}{{"blip-tiny-a", 1, F32}, {"blip-tiny-b", 4, F16}} {
		ck, err := OpenCheckpoint(golden.Path("models", c.model))
		if err != nil {
			t.Fatal(err)
		}
		if len(ck.Files()) != c.files {
			t.Errorf("%s: %d files, want %d", c.model, len(ck.Files()), c.files)
		}
		info, _, ok := ck.Info("vision_model.post_layernorm.weight")
		if !ok || info.DType != c.dtype {
			t.Errorf("%s: post_layernorm %+v", c.model, info)
		}
		if _, err := ck.Float32("no.such.tensor"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing tensor: %v", err)
		}
		ck.Close()
	}
}

// TestTruncatedGolden cuts a real checkpoint at many lengths: each must fail to open.
func TestTruncatedGolden(t *testing.T) {
	data, err := os.ReadFile(golden.Path("models/blip-tiny-b/model-00004-of-00004.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 7, 8, 100, len(data) / 2, len(data) - 1} {
		if _, err := Open(writeFile(t, data[:n])); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
}

func TestShardedIndexErrors(t *testing.T) {
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		if err := golden.CopyModel("blip-tiny-b", dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("missing shard", func(t *testing.T) {
		dir := copyDir(t)
		os.Remove(filepath.Join(dir, "model-00002-of-00004.safetensors"))
		if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "model-00002-of-00004") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("wrong shard", func(t *testing.T) {
		dir := copyDir(t)
		p := filepath.Join(dir, IndexFileName)
		b, _ := os.ReadFile(p)
		entry := []byte(`"vision_model.post_layernorm.weight": "model-00003-of-00004.safetensors"`)
		if !bytes.Contains(b, entry) {
			t.Fatal("the golden index changed: update this test")
		}
		b = bytes.Replace(b, entry, []byte(`"vision_model.post_layernorm.weight": "model-00001-of-00004.safetensors"`), 1)
		os.WriteFile(p, b, 0o644)
		if _, err := OpenCheckpoint(dir); err == nil {
			t.Error("index pointing at the wrong shard accepted")
		}
	})
	t.Run("tensor not listed", func(t *testing.T) {
		dir := copyDir(t)
		p := filepath.Join(dir, IndexFileName)
		b, _ := os.ReadFile(p)
		var index map[string]any
		if err := json.Unmarshal(b, &index); err != nil {
			t.Fatal(err)
		}
		delete(index["weight_map"].(map[string]any), "vision_model.post_layernorm.weight")
		b, _ = json.Marshal(index)
		os.WriteFile(p, b, 0o644)
		if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "vision_model.post_layernorm.weight") || !strings.Contains(err.Error(), "not listed") {
			t.Errorf("a shard's tensor missing from the index: %v", err)
		}
	})
	t.Run("path escape", func(t *testing.T) {
		for _, shard := range []string{"../../etc/passwd", "/etc/passwd", "sub/model.safetensors", ""} {
			dir := copyDir(t)
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"`+shard+`"}}`), 0o644)
			if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
				t.Errorf("shard %q: error %v", shard, err)
			}
		}
	})
}
