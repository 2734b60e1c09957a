package blip

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/vit"
)

// Config mirrors a BLIP config.json (transformers' BlipConfig): the text and vision configs and
// the top-level keys this package reads. Absent keys keep transformers' defaults.
type Config struct {
	Architectures     []string `json:"architectures"`
	ModelType         string   `json:"model_type"`
	TieWordEmbeddings *bool    `json:"tie_word_embeddings"`
	// ImageTextHiddenSize is the size of the shared space image-text matching projects image
	// and text features into.
	ImageTextHiddenSize int         `json:"image_text_hidden_size"`
	TextConfig          bert.Config `json:"-"`
	VisionConfig        vit.Config  `json:"-"`
}

// ParseConfig reads config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw struct {
		Config
		Text   json.RawMessage `json:"text_config"`
		Vision json.RawMessage `json:"vision_config"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	c := raw.Config
	if c.ImageTextHiddenSize == 0 {
		c.ImageTextHiddenSize = 256 // BlipConfig's default
	}
	if c.ImageTextHiddenSize < 0 {
		return nil, fmt.Errorf("image_text_hidden_size %d is negative", c.ImageTextHiddenSize)
	}
	if c.ModelType != "" && c.ModelType != "blip" {
		return nil, fmt.Errorf("model_type %q is not \"blip\"", c.ModelType)
	}
	var err error
	if c.TextConfig, err = bert.ParseConfig(raw.Text); err != nil {
		return nil, err
	}
	if c.TieWordEmbeddings != nil {
		// The top-level key governs the decoder's tie in transformers 5 when the text config
		// does not set it itself.
		var text map[string]json.RawMessage
		json.Unmarshal(raw.Text, &text)
		if _, own := text["tie_word_embeddings"]; !own {
			c.TextConfig.TieWordEmbeddings = *c.TieWordEmbeddings
		}
	}
	if c.VisionConfig, err = vit.ParseConfig(raw.Vision); err != nil {
		return nil, err
	}
	if c.TextConfig.EncoderHiddenSize != c.VisionConfig.HiddenSize {
		return nil, fmt.Errorf("text_config.encoder_hidden_size %d differs from vision_config.hidden_size %d",
			c.TextConfig.EncoderHiddenSize, c.VisionConfig.HiddenSize)
	}
	return &c, nil
}

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
