package translate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/generate"
	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/safetensors"
	"github.com/imagesemantics/blipgo/tensor"
	"github.com/imagesemantics/blipgo/tokenizer/sentencepiece"
)

// Model is a loaded MarianMT translation model. Its methods are safe for concurrent use.
type Model struct {
	Config *Config
	net    *network
	gen    generate.Config
	source *sentencepiece.Model
	target *sentencepiece.Model
	vocab  map[string]int // piece -> id (vocab.json)
	pieces []string       // id -> piece
	pool   *tensor.Pool
	arena  *tensor.Arena
}

// Load reads a MarianMT snapshot folder: config.json, model.safetensors, source.spm,
// target.spm, vocab.json and generation_config.json (optional). threads <= 0 means GOMAXPROCS.
func Load(dir string, threads int) (*Model, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("translate: load %s: %w", dir, err)
		}
		return b, nil
	}
	data, err := read("config.json")
	if err != nil {
		return nil, err
	}
	m := &Model{pool: tensor.NewPool(threads)}
	if m.Config, err = ParseConfig(data); err != nil {
		return nil, fmt.Errorf("translate: load %s: %w", dir, err)
	}
	if a := m.Config.Architectures; len(a) > 0 && !slices.Contains(a, "MarianMTModel") {
		return nil, fmt.Errorf("translate: load %s: architectures %v: only MarianMTModel is supported", dir, a)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		if err := json.Unmarshal(b, &m.gen); err != nil {
			return nil, fmt.Errorf("translate: load %s: generation_config.json: %v", dir, err)
		}
		if d := m.gen.DoSample; d != nil && *d {
			return nil, fmt.Errorf("translate: load %s: generation_config.json: do_sample is true; translation decodes by greedy or beam search only", dir)
		}
		if _, _, err := m.settings(Options{}); err != nil {
			return nil, fmt.Errorf("translate: load %s: generation_config.json: %w", dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("translate: load %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		dst  **sentencepiece.Model
	}{{"source.spm", &m.source}, {"target.spm", &m.target}} {
		b, err := read(f.name)
		if err != nil {
			return nil, err
		}
		if *f.dst, err = sentencepiece.Parse(b); err != nil {
			return nil, fmt.Errorf("translate: load %s: %s: %w", dir, f.name, err)
		}
	}
	if data, err = read("vocab.json"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &m.vocab); err != nil {
		return nil, fmt.Errorf("translate: load %s: vocab.json: %v", dir, err)
	}
	m.pieces = make([]string, m.Config.VocabSize)
	for p, id := range m.vocab {
		if id < 0 || id >= m.Config.VocabSize {
			return nil, fmt.Errorf("translate: load %s: vocab.json: %q has id %d outside the vocabulary of %d", dir, p, id, m.Config.VocabSize)
		}
		m.pieces[id] = p
	}
	for _, special := range []string{"</s>", "<unk>", "<pad>"} {
		if _, ok := m.vocab[special]; !ok {
			return nil, fmt.Errorf("translate: load %s: vocab.json has no %s", dir, special)
		}
	}
	weights, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("translate: load %s: %w", dir, err)
	}
	defer weights.Close()
	m.net = newNetwork(m.Config)
	b := bind.New(weights, "weights", [][]string{
		{"model.shared.weight", "lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"},
	}, m.pool)
	b.Bind("", m.net)
	if err := b.Finish(); err != nil {
		return nil, fmt.Errorf("translate: load %s: %w", dir, err)
	}
	m.arena = tensor.NewArena()
	m.net.prepare(m.pool, m.arena)
	m.own()
	return m, nil
}

// own copies what packing left as views of the checkpoint (embeddings, norms, biases) into
// the arena, so the files can be closed.
func (m *Model) own() {
	bind.Walk("", m.net, func(_ string, slot **tensor.Tensor, _ bool) {
		if t := *slot; t != nil && t.Data != nil {
			owned := m.arena.Alloc(len(t.Data))
			copy(owned, t.Data)
			t.Data = owned
		}
	})
	m.net.head.Bias.Data = m.net.FinalLogitsBias.Data
}

// Close releases the model's memory; it must not be used afterwards.
func (m *Model) Close() error { return m.arena.Free() }

// Encode tokenizes source text as MarianTokenizer does: SentencePiece pieces of source.spm
// mapped through vocab.json (unknown pieces to <unk>), then </s>.
func (m *Model) Encode(text string) []int {
	var ids []int
	unk := m.vocab["<unk>"]
	for _, t := range m.source.Encode(text) {
		id, ok := m.vocab[t.Piece]
		if !ok {
			id = unk
		}
		ids = append(ids, id)
	}
	return append(ids, m.vocab["</s>"])
}

// Decode turns ids into text with target.spm, skipping the special tokens (</s>, <unk>,
// <pad>), as transformers' decode with skip_special_tokens does.
func (m *Model) Decode(ids []int) string {
	var pieces []string
	for _, id := range ids {
		if id < 0 || id >= len(m.pieces) {
			continue
		}
		p := m.pieces[id]
		if p == "</s>" || p == "<unk>" || p == "<pad>" || p == "" {
			continue
		}
		pieces = append(pieces, p)
	}
	return sentencepiece.Decode(pieces)
}

// Options are translation's generation options; zero values take generation_config.json's
// (max_length or max_new_tokens, min_length, num_beams, length_penalty, repetition_penalty,
// no_repeat_ngram_size, early_stopping, bad_words_ids (single tokens), eos_token_id,
// forced_eos_token_id, decoder_start_token_id), then transformers' defaults.
type Options struct {
	NumBeams          int
	MaxNewTokens      int
	RepetitionPenalty float64
}

// Translation is one translated text.
type Translation struct {
	Text string
	IDs  []int // decoder start first
}

// Translate translates texts: each is encoded at its own length (the padding mask of a
// padded batch); greedy search decodes them all together, beam search one text at a time
// (its beams together). A text longer than the model's positions is cut to them, </s> kept
// last, as the tokenizer's truncation does.
func (m *Model) Translate(ctx context.Context, texts []string, o Options) ([]Translation, error) {
	inputs := make([][]int, len(texts))
	for i, text := range texts {
		inputs[i] = m.Encode(text)
		if n := m.Config.MaxPositions; len(inputs[i]) > n {
			inputs[i] = append(inputs[i][:n-1], inputs[i][len(inputs[i])-1])
		}
	}
	seqs, err := m.generate(ctx, inputs, o)
	if err != nil {
		return nil, err
	}
	out := make([]Translation, len(texts))
	for i, ids := range seqs {
		out[i] = Translation{Text: m.Decode(ids), IDs: ids}
	}
	return out, nil
}

// Generate decodes a translation of input ids (</s> last): the decoder start token, then
// generated ids, as transformers' generate returns them.
func (m *Model) Generate(ctx context.Context, input []int, o Options) ([]int, error) {
	seqs, err := m.generate(ctx, [][]int{input}, o)
	if err != nil {
		return nil, err
	}
	return seqs[0], nil
}

// settings are generation_config.json's, transformers' defaults where it is silent, then o's;
// it returns them with the decoder start token.
func (m *Model) settings(o Options) (*generate.Settings, int, error) {
	c := m.Config
	s := &generate.Settings{NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EOS: c.EOSTokenID, MaxLength: 20, ForcedEOS: c.ForcedEOSTokenID}
	g := m.gen
	if g.MaxLength != nil {
		s.MaxLength = *g.MaxLength
	}
	if g.MaxNewTokens != nil {
		s.MaxLength = 1 + *g.MaxNewTokens
	}
	g.Apply(s)
	if g.EOSTokenID != nil {
		s.EOS = *g.EOSTokenID
	}
	if g.ForcedEOSTokenID != nil {
		s.ForcedEOS = g.ForcedEOSTokenID
	}
	bad, err := g.BadTokens()
	if err != nil {
		return nil, 0, err
	}
	s.BadTokens = bad
	start := c.DecoderStartTokenID
	if g.DecoderStartTokenID != nil {
		start = *g.DecoderStartTokenID
	}
	if start < 0 || start >= c.VocabSize {
		return nil, 0, fmt.Errorf("%w: decoder start token %d outside the vocabulary of %d", generate.ErrOption, start, c.VocabSize)
	}
	if err := s.CheckTokens(c.VocabSize); err != nil {
		return nil, 0, err
	}
	if o.NumBeams > 0 {
		s.NumBeams = o.NumBeams
	}
	if o.MaxNewTokens > 0 {
		s.MaxLength = 1 + o.MaxNewTokens
	}
	if o.RepetitionPenalty > 0 {
		s.RepetitionPenalty = o.RepetitionPenalty
	}
	if err := s.Validate(); err != nil {
		return nil, 0, err
	}
	if s.MaxLength > c.MaxPositions {
		return nil, 0, fmt.Errorf("%w: max length %d exceeds the model's %d positions", generate.ErrOption, s.MaxLength, c.MaxPositions)
	}
	return s, start, nil
}

// generate decodes a translation of each input.
func (m *Model) generate(ctx context.Context, inputs [][]int, o Options) ([][]int, error) {
	s, start, err := m.settings(o)
	if err != nil {
		return nil, err
	}
	c := m.Config
	d := &decoder{m: m}
	for _, input := range inputs {
		if len(input) > c.MaxPositions {
			return nil, fmt.Errorf("%w: the text is %d tokens, the model takes %d", generate.ErrOption, len(input), c.MaxPositions)
		}
		enc, err := m.net.encode(ctx, m.pool, input)
		if err != nil {
			return nil, err
		}
		d.srcs = append(d.srcs, m.net.crossKV(m.pool, enc))
	}
	if s.NumBeams == 1 {
		return generate.Greedy(ctx, d, []int{start}, len(inputs), s)
	}
	out := make([][]int, len(inputs))
	for i := range inputs {
		seq, _, err := generate.Beam(ctx, d, []int{start}, i, s)
		if err != nil {
			return nil, err
		}
		out[i] = seq
	}
	return out, nil
}

// TeacherForced returns the decoder's logits [len(decoderIDs), V] for input ids and decoder
// input ids (the decoder start first): transformers' forward with labels shifted in.
func (m *Model) TeacherForced(ctx context.Context, input, decoderIDs []int) (*tensor.Tensor, error) {
	enc, err := m.net.encode(ctx, m.pool, input)
	if err != nil {
		return nil, err
	}
	logits := tensor.New(len(decoderIDs), m.Config.VocabSize)
	err = m.net.decode(ctx, m.pool, logits, [][]int{decoderIDs}, []*cache{m.net.newCache(len(decoderIDs))}, []*source{m.net.crossKV(m.pool, enc)})
	return logits, err
}

// EncoderOutput returns the encoder's last hidden state [len(input), D].
func (m *Model) EncoderOutput(ctx context.Context, input []int) (*tensor.Tensor, error) {
	return m.net.encode(ctx, m.pool, input)
}

// decoder adapts the network to package generate: one cache per sequence, attending to one of
// the sources (the encoded texts).
type decoder struct {
	m    *Model
	srcs []*source
}

// state is a sequence's cache and the text it translates.
type state struct {
	*cache
	src int
}

func (d *decoder) VocabSize() int { return d.m.Config.VocabSize }

func (d *decoder) NewState(src, capacity int) generate.State {
	return &state{cache: d.m.net.newCache(capacity), src: src}
}

func (d *decoder) CopyState(dst, src generate.State) {
	to, from := dst.(*state), src.(*state)
	to.copyFrom(from.cache)
	to.src = from.src
}

// Step runs the sequences together (a text's beams, or greedy sequences of several texts):
// the weights are read once a step.
func (d *decoder) Step(ctx context.Context, ids [][]int, states []generate.State) (*tensor.Tensor, error) {
	v, t := d.m.Config.VocabSize, len(ids[0])
	caches := make([]*cache, len(states))
	srcs := make([]*source, len(states))
	for i, st := range states {
		caches[i], srcs[i] = st.(*state).cache, d.srcs[st.(*state).src]
	}
	logits := tensor.New(len(ids)*t, v)
	if err := d.m.net.decode(ctx, d.m.pool, logits, ids, caches, srcs); err != nil {
		return nil, err
	}
	if t == 1 {
		return logits, nil
	}
	out := tensor.New(len(ids), v)
	for i := range ids {
		copy(out.Row(i), logits.Row(i*t+t-1))
	}
	return out, nil
}

// LoadAny loads a snapshot folder, or a hub id (ORG/NAME, such as
// Helsinki-NLP/opus-mt-en-de) through the Hugging Face cache that blip/hub manages,
// downloading what is missing.
func LoadAny(ctx context.Context, name string, threads int, opts hub.Options) (*Model, error) {
	if !hub.IsRepoID(name) {
		return Load(name, threads)
	}
	opts.Files = append(opts.Files, "source.spm", "target.spm", "vocab.json")
	dir, err := hub.Snapshot(ctx, name, opts)
	if err != nil {
		return nil, fmt.Errorf("translate: no folder %q here, and as a hub id: %w", name, err)
	}
	return Load(dir, threads)
}
