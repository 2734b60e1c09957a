package generate

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/imagesemantics/blipgo/tensor"
)

// fixedLogits is a decoder whose steps cost nothing: the logits after token t are row t%8 of a
// random table, so that a benchmark times the search's own work between steps.
type fixedLogits struct{ rows *tensor.Tensor }

type fixedState struct{ last int }

func (f *fixedLogits) VocabSize() int                   { return f.rows.Shape[1] }
func (f *fixedLogits) NewState(src, capacity int) State { return &fixedState{} }
func (f *fixedLogits) CopyState(dst, src State)         { *dst.(*fixedState) = *src.(*fixedState) }
func (f *fixedLogits) Step(ctx context.Context, ids [][]int, states []State) (*tensor.Tensor, error) {
	out := tensor.New(len(states), f.VocabSize())
	for i, st := range states {
		s := st.(*fixedState)
		s.last = ids[i][len(ids[i])-1]
		copy(out.Row(i), f.rows.Row(s.last%f.rows.Shape[0]))
	}
	return out, ctx.Err()
}

// BenchmarkSearchStep times what a search does between decoder steps at BLIP's vocabulary
// (30524 tokens), per step: beam search's log-probabilities and best continuations, sampling's
// warpers and draw. The decoder's own step costs only copying its logits.
func BenchmarkSearchStep(b *testing.B) {
	const vocab, steps = 30524, 20
	r := rand.New(rand.NewPCG(5, 5))
	rows := tensor.New(8, vocab)
	for i := range rows.Data {
		rows.Data[i] = float32(r.NormFloat64() * 3)
	}
	d := &fixedLogits{rows: rows}
	base := Settings{MaxLength: steps + 1, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EOS: -1, Temperature: 1, TopK: 50, TopP: 1}
	for _, c := range []struct {
		name string
		edit func(*Settings)
	}{
		{"greedy", func(s *Settings) {}},
		{"beams=3", func(s *Settings) { s.NumBeams = 3 }},
		{"sample/top-k=50", func(s *Settings) { s.DoSample = true }},
		{"sample/top-k=50/top-p=0.9", func(s *Settings) { s.DoSample = true; s.TopP = 0.9 }},
		{"sample/top-p=0.9", func(s *Settings) { s.DoSample = true; s.TopK = 0; s.TopP = 0.9 }},
	} {
		s := base
		c.edit(&s)
		if err := s.Validate(); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var err error
				if s.NumBeams > 1 {
					_, _, err = Beam(context.Background(), d, []int{1}, 0, &s)
				} else {
					_, err = Greedy(context.Background(), d, []int{1}, 1, &s)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N)/steps, "µs/step")
		})
	}
}
