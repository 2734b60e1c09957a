package arch

import (
	"encoding/json"
	"fmt"

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
	if c.ImageTextHiddenSize < 1 || c.ImageTextHiddenSize > bert.MaxWidth {
		return nil, fmt.Errorf("image_text_hidden_size %d is outside [1, %d]", c.ImageTextHiddenSize, bert.MaxWidth)
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
