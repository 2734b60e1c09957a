// Package blip captions images with a BLIP checkpoint exactly as Hugging Face transformers'
// BlipForConditionalGeneration does, in pure Go.
//
//	m, err := blip.Load("path/to/snapshot")
//	if err != nil { ... }
//	defer m.Close()
//	c, err := m.Caption(ctx, img)                                   // greedy, 20 new tokens
//	c, err = m.Caption(ctx, img, blip.Prompt("a photography of"), blip.Beams(3))
//	fmt.Println(c.Text, c.IDs)
//
// A snapshot folder is what the Hugging Face hub serves: config.json, model.safetensors (or
// shards with model.safetensors.index.json) in F32, F16 or BF16, tokenizer.json or vocab.txt,
// preprocessor_config.json, and optionally generation_config.json.
//
// Generation follows transformers 5: the prompt is tokenized as [CLS] prompt [SEP], [CLS]
// becomes the BOS token ([DEC]) and [SEP] is dropped; generation stops at sep_token_id; with no
// max length given, 20 new tokens are allowed (capped by max_position_embeddings); given
// lengths count the BOS and prompt. Greedy and beam search, min length, repetition penalty and
// no-repeat n-grams behave as transformers' logits processors do.
package blip

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/internal/arch"
	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/safetensors"
	"github.com/imagesemantics/blipgo/tensor"
	"github.com/imagesemantics/blipgo/tokenizer"
	"github.com/imagesemantics/blipgo/vit"
)

// Model is a loaded BLIP model: a captioning, question-answering or image-text matching
// checkpoint (see Task). Its methods are safe for concurrent use; those its checkpoint cannot
// serve return an *UnsupportedError.
type Model struct {
	Config     *Config
	Preprocess imageproc.PreprocessConfig
	Vision     *vit.Model
	// Encoder is the bidirectional text encoder (question answering, matching), or nil.
	Encoder *bert.Model
	// Decoder and Head are the causal text decoder and its language-model head (captioning,
	// question answering), or nil.
	Decoder   *bert.Model
	Head      *bert.LMHead
	Tokenizer *tokenizer.Tokenizer

	arch  *arch.Architecture
	itm   *arch.MatchingHead
	notes []string
	// mu is held for reading by every call that uses the weights and for writing by Close,
	// which so waits for the calls in flight.
	mu sync.RWMutex

	generation *GenerationConfig
	arena      *tensor.Arena // every weight, outside the Go heap; nil once closed
	pool       *tensor.Pool
	maxPixels  int
	precision  tensor.Precision
}

// LoadOption configures Load.
type LoadOption func(*loadSettings)

type loadSettings struct {
	threads, maxPixels int
	hub                hub.Options
	precision          tensor.Precision
}

// BFloat16 computes every linear layer with bfloat16 weights and activations (float32
// accumulation), and the caption decoder's cross-attention to the image on bfloat16 pairs (on
// AMX CPUs the vision encoder's self-attention too), as PyTorch's bf16 autocast computes them:
// whole captions 1.5-1.7x as fast on 2 cores of a Zen 5 (AVX512-BF16), about 2x with AMX,
// and half the weight memory, but no longer transformers' float32 results; see the README
// for how often captions and answers still agree. Where the CPU has no bfloat16 products
// (Intel before Cooper Lake, AMD before Zen 4, arm64) only the weights are bfloat16, stored so
// and widened by the float32 kernels: half the memory, decode steps about 1.6x as fast on a
// Cascade Lake Xeon.
func BFloat16() LoadOption { return func(s *loadSettings) { s.precision = tensor.BFloat16 } }

// BFloat16x3 computes every linear layer from three bfloat16 parts of each value (six
// bfloat16 products, float32 sums), as accurate as float32 on every bfloat16 kernel (AMX and
// AVX512-BF16) and made for CPUs whose bfloat16 units outrun their float32 ones more than six
// times inside a product; the Xeon measured so far is not one (it is 1.5x slower there than
// float32: see the README). Where the CPU has no bfloat16 instructions it is float32. Decode
// steps, bound by reading weights, run in float32.
func BFloat16x3() LoadOption { return func(s *loadSettings) { s.precision = tensor.BFloat16x3 } }

// WithPrecision selects the precision of the linear layers (tensor.Float32 by default).
func WithPrecision(p tensor.Precision) LoadOption {
	return func(s *loadSettings) { s.precision = p }
}

// Precision is the precision the model's linear layers were prepared for.
func (m *Model) Precision() tensor.Precision { return m.precision }

// Kernel names the matrix-product kernels the model's precision runs on this CPU.
func (m *Model) Kernel() string { return m.precision.Kernel() }

// Threads bounds the goroutines each call computes with; n <= 0 means GOMAXPROCS.
func Threads(n int) LoadOption { return func(s *loadSettings) { s.threads = n } }

// MaxPixels bounds the size of images the model decodes (imageproc.DefaultMaxPixels by default).
func MaxPixels(n int) LoadOption { return func(s *loadSettings) { s.maxPixels = n } }

// MaxPixels is the largest image, in pixels, DecodeImage accepts.
func (m *Model) MaxPixels() int {
	if m.maxPixels <= 0 {
		return imageproc.DefaultMaxPixels
	}
	return m.maxPixels
}

// Notes says what Load assumed for files the snapshot lacks (a missing
// preprocessor_config.json or tokenizer configuration, where defaults were used), one
// sentence each, for a tool to show once.
func (m *Model) Notes() []string { return append([]string(nil), m.notes...) }

// Task is what the model's checkpoint can do.
func (m *Model) Task() Task { return m.arch.Task }

// Load reads a BLIP snapshot folder: BlipForConditionalGeneration (captioning),
// BlipForQuestionAnswering or BlipForImageTextRetrieval, told by config.json's "architectures"
// or, where it has none, by the checkpoint's tensors. Everything the model needs is read (packed or
// copied) before Load returns and the checkpoint files are closed: they may be replaced or
// deleted while the model runs.
func Load(dir string, opts ...LoadOption) (*Model, error) {
	var ls loadSettings
	for _, o := range opts {
		o(&ls)
	}
	m := &Model{pool: tensor.NewPool(ls.threads), maxPixels: ls.maxPixels, precision: ls.precision}
	err := readJSON(dir, "config.json", false, func(b []byte) (err error) {
		m.Config, err = ParseConfig(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(m.Config.Architectures) > 0 {
		if m.arch, err = arch.Find(m.Config, nil); err != nil {
			return nil, &LoadError{Dir: dir, File: "config.json", Err: err}
		}
	}
	vc, tc := m.Config.VisionConfig, m.Config.TextConfig
	m.Preprocess = imageproc.DefaultPreprocessConfig()
	m.Preprocess.Height, m.Preprocess.Width = vc.ImageSize, vc.ImageSize
	found := false
	err = readJSON(dir, "preprocessor_config.json", true, func(b []byte) (err error) {
		found = true
		m.Preprocess, err = imageproc.ParsePreprocessConfig(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		m.notes = append(m.notes, fmt.Sprintf("no preprocessor_config.json: BlipImageProcessor's defaults apply (%dx%d bicubic, CLIP mean and std)", vc.ImageSize, vc.ImageSize))
	}
	if m.Preprocess.Height != vc.ImageSize || m.Preprocess.Width != vc.ImageSize {
		return nil, &LoadError{Dir: dir, File: "preprocessor_config.json", Err: fmt.Errorf("size %dx%d differs from vision_config.image_size %d", m.Preprocess.Width, m.Preprocess.Height, vc.ImageSize)}
	}
	err = readJSON(dir, "generation_config.json", true, func(b []byte) error {
		m.generation = new(GenerationConfig)
		if err := json.Unmarshal(b, m.generation); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.Tokenizer, err = tokenizer.Load(dir); err != nil {
		return nil, &LoadError{Dir: dir, Err: err}
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, "tokenizer_config.json")); err != nil {
			m.notes = append(m.notes, "no tokenizer.json or tokenizer_config.json: vocab.txt with BERT's defaults (lowercase, [CLS] [SEP] [PAD] [MASK] [UNK], [DEC] as BOS)")
		}
	}
	if m.Tokenizer.VocabSize() > tc.VocabSize {
		return nil, &LoadError{Dir: dir, Err: fmt.Errorf("tokenizer has %d tokens, text_config.vocab_size is %d", m.Tokenizer.VocabSize(), tc.VocabSize)}
	}
	if m.Tokenizer.BOS != tc.BosTokenID {
		return nil, &LoadError{Dir: dir, Err: fmt.Errorf("tokenizer's [DEC] is id %d, text_config.bos_token_id is %d", m.Tokenizer.BOS, tc.BosTokenID)}
	}
	weights, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, &LoadError{Dir: dir, Err: err}
	}
	defer weights.Close() // nothing is read from the mapping after Load
	if m.arch == nil {
		m.arch, _ = arch.Find(m.Config, func(name string) bool { _, ok := weights.Shape(name); return ok })
	}
	if m.arch.Task == QuestionAnswering && tc.HiddenSize != tc.EncoderHiddenSize {
		// The answer decoder cross-attends to the question encoder's hidden states.
		return nil, &LoadError{Dir: dir, File: "config.json", Err: fmt.Errorf("text_config.hidden_size %d differs from encoder_hidden_size %d: the answer decoder cannot attend to the question", tc.HiddenSize, tc.EncoderHiddenSize)}
	}
	p := m.arch.Modules(m.Config)
	b := bind.New(weights, "weights", p.Ties(m.Config), m.pool)
	p.Each(b.Bind)
	if err := b.Finish(); err != nil {
		return nil, &LoadError{Dir: dir, Err: err}
	}
	m.Vision, m.Encoder, m.Decoder, m.Head, m.itm = p.Vision, p.Encoder, p.Decoder, p.Head, p.ITM
	// Pack the weights once for the matrix-product kernels, releasing each mapped weight as
	// soon as its packed copy exists so the process never holds both.
	m.arena = tensor.NewArena()
	p.Prepare(m.pool, m.arena, ls.precision, weights.Release)
	if p.Decoder != nil && tc.TieWordEmbeddings {
		// The word embeddings are the LM head's weight: read them from its packed copy
		// rather than keep the table (94 MB for BLIP-large) a second time.
		if table := p.Decoder.Embeddings.TieTo(&p.Head.Decoder); table != nil {
			weights.Release(table)
		}
	}
	ownRest(&p, m.arena, weights.Release)
	return m, nil
}

// ownRest copies every tensor the packing left in place (embeddings, norms, biases: F32
// checkpoints hand them out as views of the file mapping) into one block of the arena, so that
// the checkpoint can be unmapped: a file replaced or truncated under a loaded model would
// otherwise crash it (SIGBUS) at its next read. release drops each copied piece of the mapping
// at once, so the copy adds no more than a chunk to the peak memory.
func ownRest(p *arch.Parts, arena *tensor.Arena, release func([]float32)) {
	const chunk = 1 << 20
	var rest []*tensor.Tensor
	n := 0
	p.Each(func(prefix string, module any) {
		bind.Walk(prefix, module, func(_ string, slot **tensor.Tensor, _ bool) {
			if t := *slot; t != nil && t.Data != nil {
				rest = append(rest, t)
				n += len(t.Data)
			}
		})
	})
	block := arena.Alloc(n)
	for _, t := range rest {
		owned := block[:len(t.Data):len(t.Data)]
		for i := 0; i < len(owned); i += chunk {
			j := min(i+chunk, len(owned))
			copy(owned[i:j], t.Data[i:j])
			release(t.Data[i:j])
		}
		t.Data, block = owned, block[len(t.Data):]
	}
}

// Close waits for the calls in flight to finish, then releases the weights; later calls
// return ErrClosed.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.arena == nil {
		return nil
	}
	err := m.arena.Free()
	m.arena = nil
	return err
}
