package blip

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestGenerationConfigDefaults: generation_config.json supplies defaults that options override,
// as transformers' generate does.
func TestGenerationConfigDefaults(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := cases.GenerateIDs("blip-tiny-a", "chelsea")
	dir := snapshotCopy(t, "blip-tiny-a")
	cfg := `{"bos_token_id": 30522, "eos_token_id": 2, "pad_token_id": 0, "num_beams": 3, "min_length": 5, "max_length": 20}`
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := loadImage(t, m, "chelsea")
	// max_length 20 in the file is transformers' default value, so it means 20 new tokens; the
	// golden case passed max_length=20 explicitly.
	c, err := m.Caption(context.Background(), img, MaxLength(20))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.IDs, want["beam3_min5_max20"]) {
		t.Errorf("with the file's beams and min length: %v, want %v", c.IDs, want["beam3_min5_max20"])
	}
	c, err = m.Caption(context.Background(), img, Beams(1), MinLength(0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.IDs, want["default"]) {
		t.Errorf("options over the file: %v, want %v", c.IDs, want["default"])
	}

	// do_sample with top_k 1 in the file: sampling that can only take the best token.
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"do_sample": true, "top_k": 1}`), 0o644)
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if c, err := m2.Caption(context.Background(), img); err != nil || !slices.Equal(c.IDs, want["default"]) {
		t.Errorf("do_sample, top_k 1: %v %v, want %v", c, err, want["default"])
	}
	if _, err := m2.Caption(context.Background(), img, Beams(2)); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), "beam sample") {
		t.Errorf("sampling with beams: %v", err)
	}
}
