package blip

import (
	"context"
	"slices"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestLoadPretrainedOffline resolves a hub id from a cache laid out like the Python client's,
// with the network off, and captions with it.
func TestLoadPretrainedOffline(t *testing.T) {
	cache := t.TempDir()
	if err := golden.MakeHubCache(cache, "Salesforce/blip-tiny", "blip-tiny-a"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")
	m, err := LoadAny(context.Background(), "Salesforce/blip-tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.Caption(context.Background(), loadImage(t, m, "chelsea"))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{30522, 11784, 7154, 11784, 7154, 11784, 22712, 16577, 102}
	if !slices.Equal(c.IDs, want) {
		t.Errorf("ids %v, want %v", c.IDs, want)
	}
	if _, err := LoadAny(context.Background(), "Salesforce/not-cached"); err == nil {
		t.Error("an uncached model loaded offline")
	}
}
