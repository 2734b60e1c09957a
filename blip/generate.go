package blip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/generate"
	"github.com/imagesemantics/blipgo/tensor"
)

// textDecoder is the text decoder and its LM head as package generate sees them: one state
// per sequence (its key/value cache), decoding one of the sources' cross-attention keys and
// values (images for captions, questions for answers).
type textDecoder struct {
	m       *Model
	crosses []*bert.Cross
	timings *Timings
	ws      bert.Workspace // decoder activations, reused at every step
	// hidden, last and logits are step outputs, reused at every step.
	hidden, last, logits []float32
}

// decoderState is a sequence's key/value cache and the source it attends to.
type decoderState struct {
	cache *bert.Cache
	src   int
}

func (d *textDecoder) VocabSize() int { return d.m.Decoder.Config.VocabSize }

func (d *textDecoder) NewState(src, capacity int) generate.State {
	return &decoderState{cache: d.m.Decoder.NewCache(capacity), src: src}
}

func (d *textDecoder) CopyState(dst, src generate.State) {
	to, from := dst.(*decoderState), src.(*decoderState)
	to.cache.CopyFrom(from.cache)
	to.src = from.src
}

// Step runs one batch of sequences forward by their new tokens and returns the logits of each
// sequence's last position, [len(ids), V], valid until the next step.
func (d *textDecoder) Step(ctx context.Context, ids [][]int, states []generate.State) (*tensor.Tensor, error) {
	defer d.timings.add(stageStep, time.Now())
	dec := d.m.Decoder
	caches, crosses := make([]*bert.Cache, len(states)), make([]*bert.Cross, len(states))
	for i, st := range states {
		s := st.(*decoderState)
		caches[i], crosses[i] = s.cache, d.crosses[s.src]
	}
	t := len(ids[0])
	hidden := reuse(&d.hidden, len(ids)*t, dec.Config.HiddenSize)
	if err := dec.Forward(ctx, d.m.pool, hidden, ids, caches, crosses, &d.ws); err != nil {
		return nil, err
	}
	last := reuse(&d.last, len(ids), dec.Config.HiddenSize)
	for i := range ids {
		copy(last.Row(i), hidden.Row(i*t+t-1))
	}
	logits := reuse(&d.logits, len(ids), dec.Config.VocabSize)
	d.m.Head.Forward(d.m.pool, logits, last)
	if err := tensor.CheckFinite(fmt.Sprintf("decoder logits at position %d", caches[0].Len-1), logits.Data); err != nil {
		return nil, err
	}
	return logits, nil
}

// reuse returns a rows×cols tensor over *buf, growing it when needed.
func reuse(buf *[]float32, rows, cols int) *tensor.Tensor {
	if cap(*buf) < rows*cols {
		*buf = make([]float32, rows*cols)
	}
	return tensor.FromData((*buf)[:rows*cols], rows, cols)
}

// PromptIDs is the decoder input for a prompt: [CLS] prompt [SEP] with [CLS] replaced by BOS
// and [SEP] dropped; just [BOS] without a prompt.
func (m *Model) PromptIDs(prompt string) []int {
	if prompt == "" {
		return []int{m.Config.TextConfig.BosTokenID}
	}
	ids := m.Tokenizer.Encode(prompt)
	ids[0] = m.Config.TextConfig.BosTokenID
	return ids[:len(ids)-1]
}

// searchSettings turns the options into package generate's settings for an input of n
// tokens: transformers' default of 20 new tokens (capped by the position table) when no
// length is given, the end token sep_token_id.
func (m *Model) searchSettings(s *settings, n int) (*generate.Settings, error) {
	tc := m.Config.TextConfig
	gs := s.search // a copy: this call's lengths, end token and seed go into it
	gs.EOS = tc.SepTokenID
	if gs.DoSample {
		if s.seed != nil {
			gs.Seed = *s.seed
		} else {
			gs.Seed = rand.Uint64()
		}
	}
	switch {
	case s.maxNewTokens > 0:
		gs.MaxLength = n + s.maxNewTokens
	case s.maxLength > 0:
		gs.MaxLength = s.maxLength
	default:
		gs.MaxLength = min(n+defaultMaxLength, tc.MaxPositionEmbeddings)
	}
	if n >= gs.MaxLength {
		return nil, fmt.Errorf("%w: the prompt makes %d tokens with BOS, max length is %d", ErrOption, n, gs.MaxLength)
	}
	if gs.MaxLength > tc.MaxPositionEmbeddings {
		return nil, fmt.Errorf("%w: max length %d exceeds the model's %d positions", ErrOption, gs.MaxLength, tc.MaxPositionEmbeddings)
	}
	if s.ignoreEOS {
		gs.EOS = -1
	}
	return &gs, nil
}
