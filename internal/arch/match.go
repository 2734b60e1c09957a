package arch

import "github.com/imagesemantics/blipgo/tensor"

// MatchingHead holds BlipForImageTextRetrieval's heads: the ITM classifier on the text
// encoder's first token, and the projections of image and text features into a shared space.
type MatchingHead struct {
	ITM        tensor.Linear `weights:"itm_head"`    // [2, H]
	VisionProj tensor.Linear `weights:"vision_proj"` // [image_text_hidden_size, vision hidden]
	TextProj   tensor.Linear `weights:"text_proj"`   // [image_text_hidden_size, text hidden]
}

// NewMatchingHead declares the heads of a config.
func NewMatchingHead(c *Config) *MatchingHead {
	return &MatchingHead{
		ITM:        tensor.NewLinear(c.TextConfig.HiddenSize, 2),
		VisionProj: tensor.NewLinear(c.VisionConfig.HiddenSize, c.ImageTextHiddenSize),
		TextProj:   tensor.NewLinear(c.TextConfig.HiddenSize, c.ImageTextHiddenSize),
	}
}

// Prepare packs the heads' weights.
func (h *MatchingHead) Prepare(p *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	for _, l := range []*tensor.Linear{&h.ITM, &h.VisionProj, &h.TextProj} {
		l.Prepare(p, arena, prec, done)
	}
}
