// Package arch describes each BLIP class of transformers once: its task, its modules with
// their checkpoint prefixes and tied weights, and its config.json. Loading (package blip) and
// the full-size hash model (internal/hashmodel) both read it.
package arch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/tensor"
	"github.com/imagesemantics/blipgo/vit"
)

// Task is what a BLIP checkpoint can do.
type Task int

const (
	// Captioning is BlipForConditionalGeneration: Caption, CaptionBatch.
	Captioning Task = iota + 1
	// QuestionAnswering is BlipForQuestionAnswering: Answer.
	QuestionAnswering
	// ImageTextMatching is BlipForImageTextRetrieval: Match, ImageEmbedding, TextEmbedding.
	ImageTextMatching
)

func (t Task) String() string {
	for _, a := range Architectures {
		if a.Task == t {
			return a.Name
		}
	}
	return fmt.Sprintf("Task(%d)", int(t))
}

// Checkpoint name prefixes of BLIP's modules, as transformers' BLIP classes name them.
const (
	VisionPrefix      = "vision_model."
	TextEncoderPrefix = "text_encoder."
	TextDecoderPrefix = "text_decoder.bert."
	LMHeadPrefix      = "text_decoder.cls."
)

// Architecture describes one transformers BLIP class once: its task, the modules it has and
// where their weights are, and the weights it ties.
type Architecture struct {
	Name string // the transformers class, as config.json's "architectures" names it
	Task Task
	// Marker is a tensor name only this class's checkpoints hold (an empty marker matches any):
	// config.json files without "architectures" are recognised by their weights.
	Marker string
	// Modules declares the model's parts for a config.
	Modules func(c *Config) Parts
}

// Parts are the modules of one model; the ones an architecture lacks are nil.
type Parts struct {
	Vision  *vit.Model
	Encoder *bert.Model   // bidirectional text encoder
	Decoder *bert.Model   // causal text decoder
	Head    *bert.LMHead  // the decoder's language-model head
	ITM     *MatchingHead // ITM head and projections
}

// Architectures are the BLIP classes this project runs; the last, captioning, has no marker
// and is the default.
var Architectures = []Architecture{
	{Name: "BlipForImageTextRetrieval", Task: ImageTextMatching, Marker: "itm_head.weight", Modules: func(c *Config) Parts {
		return Parts{Vision: vit.New(c.VisionConfig), Encoder: bert.New(c.TextConfig, bert.Options{}), ITM: NewMatchingHead(c)}
	}},
	{Name: "BlipForQuestionAnswering", Task: QuestionAnswering, Marker: "text_encoder.embeddings.word_embeddings.weight", Modules: func(c *Config) Parts {
		return Parts{Vision: vit.New(c.VisionConfig), Encoder: bert.New(c.TextConfig, bert.Options{}), Decoder: bert.New(c.TextConfig, bert.Options{Causal: true}), Head: bert.NewLMHead(c.TextConfig)}
	}},
	{Name: "BlipForConditionalGeneration", Task: Captioning, Modules: func(c *Config) Parts {
		return Parts{Vision: vit.New(c.VisionConfig), Decoder: bert.New(c.TextConfig, bert.Options{Causal: true}), Head: bert.NewLMHead(c.TextConfig)}
	}},
}

// Each calls fn for every module present, with its checkpoint prefix.
func (p *Parts) Each(fn func(prefix string, module any)) {
	for _, m := range []struct {
		prefix string
		module any
		ok     bool
	}{
		{VisionPrefix, p.Vision, p.Vision != nil},
		{TextEncoderPrefix, p.Encoder, p.Encoder != nil},
		{TextDecoderPrefix, p.Decoder, p.Decoder != nil},
		{LMHeadPrefix, p.Head, p.Head != nil},
		{"", p.ITM, p.ITM != nil},
	} {
		if m.ok {
			fn(m.prefix, m.module)
		}
	}
}

// Prepare packs every module's weights for the kernels.
func (p *Parts) Prepare(pool *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	type preparer interface {
		Prepare(*tensor.Pool, *tensor.Arena, tensor.Precision, func([]float32))
	}
	p.Each(func(_ string, m any) { m.(preparer).Prepare(pool, arena, prec, done) })
}

// Ties lists the groups of checkpoint names that hold one tensor, the source first, as
// transformers ties them: the LM head's decoder bias to predictions.bias and, with
// tie_word_embeddings, its decoder weight to the word embeddings.
func (p *Parts) Ties(c *Config) [][]string {
	if p.Head == nil {
		return nil
	}
	ties := [][]string{{LMHeadPrefix + "predictions.bias", LMHeadPrefix + "predictions.decoder.bias"}}
	if c.TextConfig.TieWordEmbeddings {
		ties = append(ties, []string{TextDecoderPrefix + "embeddings.word_embeddings.weight", LMHeadPrefix + "predictions.decoder.weight"})
	}
	return ties
}

// Find picks the architecture config.json names or, without the key, the one whose marker
// the checkpoint holds (has reports whether it holds a tensor; nil: none).
func Find(c *Config, has func(name string) bool) (*Architecture, error) {
	if len(c.Architectures) > 0 {
		for i := range Architectures {
			if slices.Contains(c.Architectures, Architectures[i].Name) {
				return &Architectures[i], nil
			}
		}
		var known []string
		for _, a := range Architectures {
			known = append(known, a.Name)
		}
		return nil, fmt.Errorf("architectures %v: supported are %s", c.Architectures, strings.Join(known, ", "))
	}
	for i, a := range Architectures {
		if a.Marker == "" || (has != nil && has(a.Marker)) {
			return &Architectures[i], nil
		}
	}
	panic("unreachable: the last architecture has no marker")
}

// Params lists every parameter a checkpoint of this architecture holds for config c, with
// its shape, in declaration order: tied tensors once, under their source name, as
// save_pretrained writes them. For tools that write checkpoints.
func (a *Architecture) Params(c *Config) []Param {
	p := a.Modules(c)
	var ps []Param
	p.Each(func(prefix string, module any) {
		bind.Walk(prefix, module, func(name string, slot **tensor.Tensor, _ bool) {
			ps = append(ps, Param{Name: name, Shape: (*slot).Shape})
		})
	})
	for _, g := range p.Ties(c) {
		src, alias := g[0], g[1]
		declared := slices.ContainsFunc(ps, func(p Param) bool { return p.Name == src })
		for i := range ps {
			if ps[i].Name == alias {
				if declared {
					ps = slices.Delete(ps, i, i+1)
				} else {
					ps[i].Name = src
				}
				break
			}
		}
	}
	return ps
}

// Param is a checkpoint tensor's name and shape.
type Param struct {
	Name  string
	Shape []int
}
