package blip

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagesemantics/blipgo/internal/arch"
)

// Config mirrors a BLIP config.json (transformers' BlipConfig): the text and vision configs and
// the top-level keys this package reads. Absent keys keep transformers' defaults.
type Config = arch.Config

// ParseConfig reads config.json.
func ParseConfig(data []byte) (*Config, error) { return arch.ParseConfig(data) }

// GenerationConfig mirrors the keys of generation_config.json that captioning uses; nil means
// absent (transformers' default applies).
type GenerationConfig struct {
	MaxLength         *int     `json:"max_length"`
	MaxNewTokens      *int     `json:"max_new_tokens"`
	MinLength         *int     `json:"min_length"`
	NumBeams          *int     `json:"num_beams"`
	LengthPenalty     *float64 `json:"length_penalty"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
	NoRepeatNgramSize *int     `json:"no_repeat_ngram_size"`
	EarlyStopping     any      `json:"early_stopping"`
	DoSample          *bool    `json:"do_sample"`
	Temperature       *float64 `json:"temperature"`
	TopK              *int     `json:"top_k"`
	TopP              *float64 `json:"top_p"`
}

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
