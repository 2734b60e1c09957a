package blip

import (
	"context"
	"fmt"
	"image"

	"github.com/imagesemantics/blipgo/bert"
)

// Answer is a generated answer to a question about an image.
type Answer struct {
	// Text is the decoded answer, special tokens skipped.
	Text string
	// IDs is the whole generated sequence: BOS, the answer's tokens and, when generation ended
	// on it, the end token.
	IDs []int
	// Score is beam search's length-normalised log-probability of the sequence (0 for greedy).
	Score float32
}

// Answer answers a question about an image with a question-answering checkpoint
// (BlipForQuestionAnswering), as its transformers generate does: the question ([CLS] question
// [SEP]) goes through the text encoder attending to the image, and the text decoder, starting
// from BOS, generates the answer attending to the question's hidden states. opts are
// captioning's generation options (a Prompt is refused); the checkpoint's
// generation_config.json and transformers' defaults (greedy, 20 new tokens) fill the rest.
func (m *Model) Answer(ctx context.Context, img image.Image, question string, opts ...Option) (*Answer, error) {
	if err := m.acquire("Answer", QuestionAnswering); err != nil {
		return nil, err
	}
	defer m.release()
	s, err := m.settings(opts)
	if err != nil {
		return nil, err
	}
	if s.prompt != "" {
		return nil, fmt.Errorf("%w: Answer takes no prompt", ErrOption)
	}
	ids, err := m.textIDs([]string{question})
	if err != nil {
		return nil, err
	}
	if s.timings != nil {
		*s.timings = Timings{}
	}
	emb, err := m.encode(ctx, img, s.timings)
	if err != nil {
		return nil, err
	}
	q, err := m.Encoder.Encode(ctx, m.pool, ids, []*bert.Cross{m.Encoder.Cross(m.pool, emb)})
	if err != nil {
		return nil, err
	}
	out, err := m.generate(ctx, s, []int{m.Config.TextConfig.BosTokenID}, []*bert.Cross{m.Decoder.Cross(m.pool, q[0])})
	if err != nil {
		return nil, err
	}
	return &Answer{Text: out[0].Text, IDs: out[0].IDs, Score: out[0].Score}, nil
}
