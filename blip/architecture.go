package blip

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
	for _, a := range architectures {
		if a.task == t {
			return a.name
		}
	}
	return fmt.Sprintf("Task(%d)", int(t))
}

// Checkpoint name prefixes of BLIP's modules, as transformers' BLIP classes name them.
const (
	visionPrefix      = "vision_model."
	textEncoderPrefix = "text_encoder."
	textDecoderPrefix = "text_decoder.bert."
	lmHeadPrefix      = "text_decoder.cls."
)

// architecture describes one transformers BLIP class once: its task, the modules it has and
// where their weights are, and the weights it ties. Loading, parameter listing (the hash
// model) and the tests read it.
type architecture struct {
	name string // the transformers class, as config.json's "architectures" names it
	task Task
	// marker is a tensor name only this class's checkpoints hold (an empty marker matches any):
	// config.json files without "architectures" are recognised by their weights.
	marker string
	// modules declares the model's parts for a config, with their checkpoint prefixes.
	modules func(c *Config) parts
}

// parts are the modules of one model; the ones an architecture lacks are nil.
type parts struct {
	vision  *vit.Model
	encoder *bert.Model   // bidirectional text encoder
	decoder *bert.Model   // causal text decoder
	head    *bert.LMHead  // the decoder's language-model head
	itm     *matchingHead // ITM head and projections
}

var architectures = []architecture{
	{name: "BlipForImageTextRetrieval", task: ImageTextMatching, marker: "itm_head.weight", modules: func(c *Config) parts {
		return parts{vision: vit.New(c.VisionConfig), encoder: bert.New(c.TextConfig, false), itm: newMatchingHead(c)}
	}},
	{name: "BlipForQuestionAnswering", task: QuestionAnswering, marker: "text_encoder.embeddings.word_embeddings.weight", modules: func(c *Config) parts {
		return parts{vision: vit.New(c.VisionConfig), encoder: bert.New(c.TextConfig, false), decoder: bert.New(c.TextConfig, true), head: bert.NewLMHead(c.TextConfig)}
	}},
	{name: "BlipForConditionalGeneration", task: Captioning, modules: func(c *Config) parts {
		return parts{vision: vit.New(c.VisionConfig), decoder: bert.New(c.TextConfig, true), head: bert.NewLMHead(c.TextConfig)}
	}},
}

// each calls fn for every module present, with its checkpoint prefix.
func (p *parts) each(fn func(prefix string, module any)) {
	for _, m := range []struct {
		prefix string
		module any
		ok     bool
	}{
		{visionPrefix, p.vision, p.vision != nil},
		{textEncoderPrefix, p.encoder, p.encoder != nil},
		{textDecoderPrefix, p.decoder, p.decoder != nil},
		{lmHeadPrefix, p.head, p.head != nil},
		{"", p.itm, p.itm != nil},
	} {
		if m.ok {
			fn(m.prefix, m.module)
		}
	}
}

// prepare packs every module's weights for the kernels.
func (p *parts) prepare(pool *tensor.Pool, arena *tensor.Arena, prec tensor.Precision, done func([]float32)) {
	type preparer interface {
		Prepare(*tensor.Pool, *tensor.Arena, tensor.Precision, func([]float32))
	}
	p.each(func(_ string, m any) { m.(preparer).Prepare(pool, arena, prec, done) })
}

// ties lists the groups of checkpoint names that hold one tensor, the source first, as
// transformers ties them: the LM head's decoder bias to predictions.bias and, with
// tie_word_embeddings, its decoder weight to the word embeddings.
func (p *parts) ties(c *Config) [][]string {
	if p.head == nil {
		return nil
	}
	ties := [][]string{{lmHeadPrefix + "predictions.bias", lmHeadPrefix + "predictions.decoder.bias"}}
	if c.TextConfig.TieWordEmbeddings {
		ties = append(ties, []string{textDecoderPrefix + "embeddings.word_embeddings.weight", lmHeadPrefix + "predictions.decoder.weight"})
	}
	return ties
}

// findArchitecture picks the architecture config.json names or, without the key, the one whose
// marker the checkpoint holds.
func findArchitecture(c *Config, has func(name string) bool) (*architecture, error) {
	if len(c.Architectures) > 0 {
		for i := range architectures {
			if slices.Contains(c.Architectures, architectures[i].name) {
				return &architectures[i], nil
			}
		}
		var known []string
		for _, a := range architectures {
			known = append(known, a.name)
		}
		return nil, fmt.Errorf("architectures %v: supported are %s", c.Architectures, strings.Join(known, ", "))
	}
	for i, a := range architectures {
		if a.marker == "" || has(a.marker) {
			return &architectures[i], nil
		}
	}
	panic("unreachable: the last architecture has no marker")
}

// Params lists every parameter a checkpoint of c's architecture (its "architectures"; none
// means captioning) holds, with its shape, in declaration order: tied tensors once, under
// their source name, as save_pretrained writes them. For tools that write checkpoints.
func Params(c *Config) []Param {
	arch := &architectures[len(architectures)-1]
	if a, err := findArchitecture(c, func(string) bool { return false }); err == nil {
		arch = a
	}
	p := arch.modules(c)
	var ps []Param
	p.each(func(prefix string, module any) {
		bind.Walk(prefix, module, func(name string, slot **tensor.Tensor, _ bool) {
			ps = append(ps, Param{Name: name, Shape: (*slot).Shape})
		})
	})
	for _, g := range p.ties(c) {
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
