package blip

import (
	"context"
	"fmt"
	"image"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/tensor"
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
	out, err := m.answer(ctx, "Answer", img, []string{question}, opts)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// AnswerBatch answers several questions about one image with the same options: the image is
// encoded once, each question at its own length, and greedy search decodes the answers
// together; each result equals what Answer gives for that question.
func (m *Model) AnswerBatch(ctx context.Context, img image.Image, questions []string, opts ...Option) ([]Answer, error) {
	return m.answer(ctx, "AnswerBatch", img, questions, opts)
}

// answer is Answer and AnswerBatch; method names the caller in errors.
func (m *Model) answer(ctx context.Context, method string, img image.Image, questions []string, opts []Option) ([]Answer, error) {
	if err := m.acquire(method, QuestionAnswering); err != nil {
		return nil, err
	}
	defer m.release()
	s, err := m.settings(opts)
	if err != nil {
		return nil, err
	}
	if s.prompt != "" {
		return nil, fmt.Errorf("%w: %s takes no prompt", ErrOption, method)
	}
	ids, err := m.textIDs(questions)
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
	q, err := m.encodeWithImage(ctx, ids, emb)
	if err != nil {
		return nil, err
	}
	crosses := make([]*bert.Cross, len(q))
	for i, h := range q {
		// Float32 keys and values whatever the precision: the question's few states cost a
		// decode step next to nothing to read, and as bfloat16 pairs they moved golden
		// answers (16 of 18 kept with VDPBF16PS, 15 through AMX's twin, against 18 and 17).
		crosses[i] = m.Decoder.Cross(m.pool, h, tensor.Float32)
	}
	out, err := m.generate(ctx, s, []int{m.Config.TextConfig.BosTokenID}, crosses)
	if err != nil {
		return nil, err
	}
	answers := make([]Answer, len(out))
	for i, c := range out {
		answers[i] = Answer(c) // the same fields: generation's result, read as an answer
	}
	return answers, nil
}
