package blip

import (
	"fmt"
	"time"

	"github.com/imagesemantics/blipgo/generate"
)

// Option sets one generation option of a Caption call. Options not given take the model's
// generation_config.json values, then transformers' defaults: greedy search, 20 new tokens,
// no minimum, no penalties.
type Option func(*settings)

// settings are the generation options after merging defaults, the model's generation config and
// the caller's options. Lengths count the BOS and prompt tokens, as transformers' do.
type settings struct {
	prompt       string
	maxLength    int // 0: transformers' default (20 new tokens, capped by the position table)
	maxNewTokens int // > 0 overrides maxLength
	// search holds the options that mean the same to every model (beams, penalties,
	// sampling); searchSettings adds the lengths, end token and seed.
	search    generate.Settings
	seed      *uint64 // nil: a fresh random seed per call
	ignoreEOS bool
	timings   *Timings
}

// Prompt starts the caption with text (conditional captioning); the result includes it.
func Prompt(text string) Option { return func(s *settings) { s.prompt = text } }

// MaxLength bounds the whole sequence, BOS and prompt included (transformers' max_length).
func MaxLength(n int) Option { return func(s *settings) { s.maxLength = n } }

// MaxNewTokens bounds the tokens generated after the prompt; it overrides MaxLength.
func MaxNewTokens(n int) Option { return func(s *settings) { s.maxNewTokens = n } }

// MinLength keeps the end token from being chosen before the sequence, BOS and prompt
// included, is n tokens long.
func MinLength(n int) Option { return func(s *settings) { s.search.MinLength = n } }

// Beams selects beam search with n beams (1: greedy search).
func Beams(n int) Option { return func(s *settings) { s.search.NumBeams = n } }

// LengthPenalty is beam search's exponent on the length that divides a hypothesis' score
// (transformers' length_penalty, default 1).
func LengthPenalty(f float64) Option { return func(s *settings) { s.search.LengthPenalty = f } }

// RepetitionPenalty divides the scores of tokens already in the sequence (or multiplies them
// when negative), as transformers' repetition_penalty; 1 means none.
func RepetitionPenalty(f float64) Option { return func(s *settings) { s.search.RepetitionPenalty = f } }

// NoRepeatNgramSize forbids any n-gram of that size from occurring twice; 0 means no limit.
func NoRepeatNgramSize(n int) Option { return func(s *settings) { s.search.NoRepeatNgramSize = n } }

// Sample draws each token from the distribution instead of taking the most likely one, as
// transformers' do_sample: the scores after the logits processors, divided by the
// temperature (Temperature, default 1), cut to the top k (TopK, default 50) and to the top p
// of the probability (TopP, default 1: off). Give Seed to reproduce a caption; without it
// each call draws anew. Beam search does not sample.
func Sample() Option { return func(s *settings) { s.search.DoSample = true } }

// Temperature divides the scores before sampling (transformers' temperature).
func Temperature(t float64) Option { return func(s *settings) { s.search.Temperature = t } }

// TopK keeps the k most likely tokens when sampling (0: all; transformers' top_k).
func TopK(k int) Option { return func(s *settings) { s.search.TopK = k } }

// TopP keeps the most likely tokens whose probability reaches p when sampling (transformers'
// top_p, nucleus sampling).
func TopP(p float64) Option { return func(s *settings) { s.search.TopP = p } }

// Seed fixes sampling's random draws: the same seed, image and options give the same
// caption, alone or in a batch, on any thread count (on another CPU, only as long as its
// kernels give the same logits to the last bit).
func Seed(n uint64) Option { return func(s *settings) { s.seed = &n } }

// IgnoreEOS keeps generating past the end token until the length limit, for timings that must
// decode a fixed number of tokens.
func IgnoreEOS() Option { return func(s *settings) { s.ignoreEOS = true } }

// Timings is where a caption call spent its time, for profiling and benchmarks (see
// WithTimings). For a batch, each stage sums over its images.
type Timings struct {
	Preprocess time.Duration // resizing and normalising the decoded images
	Vision     time.Duration // the vision encoder
	Cross      time.Duration // every layer's cross-attention keys and values of the images
	// Steps holds each decoder pass in order: the BOS and prompt first, then one per new
	// token (for beam search, one per step of all beams).
	Steps []time.Duration
}

// WithTimings makes the call record its stages into *t, overwriting it.
func WithTimings(t *Timings) Option { return func(s *settings) { s.timings = t } }

// stage names a field of Timings.
type stage int

const (
	stagePreprocess stage = iota
	stageVision
	stageCross
	stageStep
)

// add records the time since start for a stage; a nil *Timings records nothing.
func (t *Timings) add(st stage, start time.Time) {
	if t == nil {
		return
	}
	d := time.Since(start)
	switch st {
	case stagePreprocess:
		t.Preprocess += d
	case stageVision:
		t.Vision += d
	case stageCross:
		t.Cross += d
	case stageStep:
		t.Steps = append(t.Steps, d)
	}
}

// ErrOption is wrapped by the error for an option out of range (the same error as package
// generate's).
var ErrOption = generate.ErrOption

func (m *Model) settings(opts []Option) (*settings, error) {
	s := &settings{search: generate.Settings{NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, Temperature: 1, TopK: 50, TopP: 1}}
	if g := m.generation; g != nil {
		if g.MaxLength != nil && *g.MaxLength != defaultMaxLength {
			s.maxLength = *g.MaxLength
		}
		if g.MaxNewTokens != nil {
			s.maxNewTokens = *g.MaxNewTokens
		}
		g.Apply(&s.search)
	}
	for _, o := range opts {
		o(s)
	}
	if s.maxNewTokens < 0 {
		return nil, fmt.Errorf("%w: max new tokens %d < 0", ErrOption, s.maxNewTokens)
	}
	check := s.search
	check.MaxLength = s.maxLength
	if err := check.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// ValidateOptions checks the ranges of generation options without a model (lengths against a
// prompt and a position table need one: see Model.CheckOptions).
func ValidateOptions(opts ...Option) error {
	_, err := (&Model{}).settings(opts)
	return err
}

// CheckOptions validates generation options against this model once, as a call would (ranges,
// and lengths against the prompt and the position table), so that a tool can refuse bad
// options before any image.
func (m *Model) CheckOptions(opts ...Option) error {
	if err := m.acquire("CheckOptions", 0); err != nil {
		return err
	}
	defer m.release()
	s, err := m.settings(opts)
	if err != nil {
		return err
	}
	n := 1
	if m.arch.Task == Captioning {
		n = len(m.PromptIDs(s.prompt))
	}
	_, err = m.searchSettings(s, n)
	return err
}

// defaultMaxLength is GenerationConfig().max_length: when max_length is left at it,
// transformers generates that many new tokens instead.
const defaultMaxLength = 20

// Limits bound the work of one call whose options come from untrusted clients (a web API's
// requests, a fleet's jobs), more tightly than the library's own ranges (64 beams, lengths up
// to the position table, any number of texts): on BLIP-large's shapes 64 beams and 60 new
// tokens took a caption's peak memory from 2.4 to 3.6 GB, and each further position adds some
// 4.7 MB of keys and values across 64 beams. A field of zero or less bounds nothing.
type Limits struct {
	Beams  int // most beams
	Length int // longest max_length, max_new_tokens and min_length
	Texts  int // most texts one call matches, or questions it answers
}

// ServiceLimits are the bounds the web server's API and the fleet's workers apply unless
// told otherwise: 8 beams, lengths of 128 tokens, 32 texts.
func ServiceLimits() Limits { return Limits{Beams: 8, Length: 128, Texts: 32} }

// Check returns an error wrapping ErrOption that names the first of opts past l, or texts
// (the number of texts or questions of the call) past l.Texts; options out of the library's
// own ranges fail as they would in a call.
func (l Limits) Check(texts int, opts ...Option) error {
	s, err := (&Model{}).settings(opts)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name     string
		v, limit int
	}{{"beams", s.search.NumBeams, l.Beams}, {"max_length", s.maxLength, l.Length}, {"max_new_tokens", s.maxNewTokens, l.Length},
		{"min_length", s.search.MinLength, l.Length}, {"texts", texts, l.Texts}} {
		if c.limit > 0 && c.v > c.limit {
			return fmt.Errorf("%w: %s %d is past this service's limit of %d", ErrOption, c.name, c.v, c.limit)
		}
	}
	return nil
}
