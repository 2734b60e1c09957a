package blip

import (
	"context"
	"fmt"

	"github.com/imagesemantics/blipgo/blip/hub"
)

// DefaultModel is the hub id of the BLIP captioning model transformers' pipeline examples use.
const DefaultModel = "Salesforce/blip-image-captioning-large"

// Revision selects the branch, tag or commit LoadPretrained fetches ("main" by default).
func Revision(rev string) LoadOption { return func(s *loadSettings) { s.hub.Revision = rev } }

// Progress receives download progress in LoadPretrained: file name, bytes so far, total (-1
// when unknown).
func Progress(f func(file string, done, total int64)) LoadOption {
	return func(s *loadSettings) { s.hub.Progress = f }
}

// LoadPretrained loads a model by its Hugging Face hub id ("ORG/NAME"), from the standard hub
// cache shared with the Python client, downloading what is missing (see package hub for the
// cache layout and the HF_TOKEN, HF_ENDPOINT, HF_HUB_CACHE, HF_HOME and HF_HUB_OFFLINE
// variables).
func LoadPretrained(ctx context.Context, repo string, opts ...LoadOption) (*Model, error) {
	var ls loadSettings
	for _, o := range opts {
		o(&ls)
	}
	dir, err := hub.Snapshot(ctx, repo, ls.hub)
	if err != nil {
		return nil, err
	}
	return Load(dir, opts...)
}

// LoadAny loads a snapshot folder, or a hub id when name is not an existing path and looks
// like ORG/NAME: what a command-line -model flag takes.
func LoadAny(ctx context.Context, name string, opts ...LoadOption) (*Model, error) {
	if hub.IsRepoID(name) {
		m, err := LoadPretrained(ctx, name, opts...)
		if err != nil {
			return nil, fmt.Errorf("no folder %q here, and as a hub id: %w", name, err)
		}
		return m, nil
	}
	return Load(name, opts...)
}
