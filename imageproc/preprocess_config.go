package imageproc

import (
	"encoding/json"
	"fmt"
)

// Pillow's resampling filter codes, as preprocessor_config.json's "resample" stores them
// (NEAREST, 0, is not supported: Validate refuses it).
const (
	ResampleLanczos  = 1
	ResampleBilinear = 2
	ResampleBicubic  = 3
	ResampleBox      = 4
	ResampleHamming  = 5
)

// PreprocessConfig mirrors preprocessor_config.json (transformers' BlipImageProcessor). Keys
// absent from the file keep the processor's defaults (DefaultPreprocessConfig).
// "do_convert_rgb" is not read: images always become 8-bit RGB, the three channels the
// models take.
type PreprocessConfig struct {
	DoResize      bool      `json:"do_resize"`
	Height, Width int       `json:"-"` // from "size"
	Resample      int       `json:"resample"`
	DoRescale     bool      `json:"do_rescale"`
	RescaleFactor float64   `json:"rescale_factor"`
	DoNormalize   bool      `json:"do_normalize"`
	ImageMean     []float64 `json:"image_mean"`
	ImageStd      []float64 `json:"image_std"`
}

// DefaultPreprocessConfig is BlipImageProcessor's defaults: 384x384 bicubic, 1/255, CLIP
// mean and std.
func DefaultPreprocessConfig() PreprocessConfig {
	return PreprocessConfig{
		DoResize: true, Height: 384, Width: 384, Resample: ResampleBicubic,
		DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true,
		ImageMean: []float64{0.48145466, 0.4578275, 0.40821073},
		ImageStd:  []float64{0.26862954, 0.26130258, 0.27577711},
	}
}

// ParsePreprocessConfig reads preprocessor_config.json over the defaults. "size" may be an
// int (a square) or {"height": H, "width": W}.
func ParsePreprocessConfig(data []byte) (PreprocessConfig, error) {
	c := DefaultPreprocessConfig()
	var aux struct {
		Size json.RawMessage `json:"size"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("preprocessor_config.json: %v", err)
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return c, fmt.Errorf("preprocessor_config.json: %v", err)
	}
	if len(aux.Size) > 0 && string(aux.Size) != "null" {
		var side int
		var hw struct {
			Height *int `json:"height"`
			Width  *int `json:"width"`
		}
		if err := json.Unmarshal(aux.Size, &side); err == nil {
			c.Height, c.Width = side, side
		} else if err := json.Unmarshal(aux.Size, &hw); err == nil && hw.Height != nil && hw.Width != nil {
			c.Height, c.Width = *hw.Height, *hw.Width
		} else {
			return c, fmt.Errorf("preprocessor_config.json: size %s: want an int or {\"height\", \"width\"}", aux.Size)
		}
	}
	return c, c.Validate()
}

// Validate checks the values are usable.
func (c *PreprocessConfig) Validate() error {
	switch {
	case c.Height <= 0 || c.Width <= 0:
		return fmt.Errorf("preprocessor_config.json: size %dx%d must be positive", c.Width, c.Height)
	case len(c.ImageMean) != 3 || len(c.ImageStd) != 3:
		return fmt.Errorf("preprocessor_config.json: image_mean and image_std need 3 values (RGB)")
	case c.DoResize && filterFor(c.Resample) == nil:
		return fmt.Errorf("preprocessor_config.json: resample %d is not supported (want 1-5: Pillow's LANCZOS, BILINEAR, BICUBIC, BOX, HAMMING)", c.Resample)
	}
	for _, s := range c.ImageStd {
		if s == 0 {
			return fmt.Errorf("preprocessor_config.json: image_std has a zero")
		}
	}
	return nil
}
