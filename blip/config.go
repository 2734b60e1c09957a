package blip

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagesemantics/blipgo/generate"
	"github.com/imagesemantics/blipgo/internal/arch"
)

// Config mirrors a BLIP config.json (transformers' BlipConfig): the text and vision configs and
// the top-level keys this package reads. Absent keys keep transformers' defaults.
type Config = arch.Config

// ParseConfig reads config.json.
func ParseConfig(data []byte) (*Config, error) { return arch.ParseConfig(data) }

// GenerationConfig mirrors generation_config.json (generate.Config); nil means absent
// (transformers' default applies). Captioning and question answering read its length, beam,
// penalty, early-stopping and sampling keys.
type GenerationConfig = generate.Config

// readJSON reads dir/name into v; a missing optional file leaves v alone.
func readJSON(dir, name string, optional bool, parse func([]byte) error) error {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && os.IsNotExist(err) {
			return nil
		}
		return &LoadError{Dir: dir, File: name, Err: err}
	}
	if err := parse(data); err != nil {
		return &LoadError{Dir: dir, File: name, Err: err}
	}
	return nil
}

// LoadError says which file of a snapshot could not be used, and why.
type LoadError struct {
	Dir, File string
	Err       error
}

func (e *LoadError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("blip: load %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("blip: load %s: %s: %v", e.Dir, e.File, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }
