// Package generate turns a decoder's next-token logits into sequences as transformers'
// generate does (generation/utils.py): greedy search and beam search, with the logits
// processors repetition penalty, no-repeat n-grams and min length, in transformers' order. It
// depends on a model only through Decoder: per-sequence state and "logits for these new
// tokens", so captioning, question answering and any later decoder share it.
package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/imagesemantics/blipgo/tensor"
)

// Decoder is what generation needs from a model.
type Decoder interface {
	// VocabSize is the width of a row of logits.
	VocabSize() int
	// NewState returns an empty state for a sequence decoding source src (an image, a
	// question) with room for capacity tokens.
	NewState(src, capacity int) State
	// Step feeds each sequence its new tokens (all sequences the same number, all states the
	// same length) and returns the logits of each one's last position, [len(states), V],
	// valid until the next Step.
	Step(ctx context.Context, ids [][]int, states []State) (*tensor.Tensor, error)
	// CopyState makes dst a copy of src, both of this decoder (beam search reorders beams).
	CopyState(dst, src State)
}

// State is a decoder's per-sequence state (its key/value cache); only the decoder reads it.
type State any

// EarlyStop is transformers' early_stopping for beam search.
type EarlyStop int

const (
	EarlyStopHeuristic EarlyStop = iota // early_stopping=False, transformers' default
	EarlyStopAll                        // True: stop when num_beams hypotheses are finished
	EarlyStopNever                      // "never": the canonical beam search bound
)

// Settings are the generation options, transformers' names in Go; lengths count the input.
type Settings struct {
	MaxLength         int // the whole sequence's bound, input included
	MinLength         int // EOS is forbidden before the sequence is this long
	NumBeams          int
	LengthPenalty     float64
	RepetitionPenalty float64 // 1: none
	NoRepeatNgramSize int     // 0: none
	EarlyStopping     EarlyStop
	EOS               int // the end token; -1 for none (generate to MaxLength)
	// BadTokens are never generated (transformers' bad_words_ids of single tokens).
	BadTokens []int
	// ForcedEOS, when set, is the only token allowed at the last position the length allows
	// (transformers' forced_eos_token_id).
	ForcedEOS *int
	// DoSample draws each token from the processed distribution instead of taking the best,
	// after transformers' warpers in its order: Temperature, TopK (0: off), TopP (1: off).
	// Each sequence draws from its own generator seeded with Seed alone, so a source gives
	// the same sequence alone or in a batch, on any thread count.
	DoSample    bool
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
	// Observe, when set, sees the processed scores of every greedy step of sequence seq
	// before its token is chosen (tests use it to find near-ties).
	Observe func(seq int, scores []float32)
}

// ErrOption is wrapped by the error for settings no search can honour.
var ErrOption = errors.New("invalid generation option")

// process applies transformers' logits processors, in its order, to the scores of the next
// token of one sequence: repetition penalty, no-repeat n-grams, bad words, min length, forced
// end token.
func (s *Settings) process(seq []int, scores []float32) {
	if s.RepetitionPenalty != 1 {
		p := float32(s.RepetitionPenalty)
		seen := map[int]bool{}
		for _, id := range seq {
			if seen[id] {
				continue
			}
			seen[id] = true
			if v := scores[id]; v < 0 {
				scores[id] = v * p
			} else {
				scores[id] = v / p
			}
		}
	}
	if n := s.NoRepeatNgramSize; n > 0 && len(seq)+1 >= n {
		prefix := seq[len(seq)-n+1:]
		for start := 0; start+n <= len(seq); start++ {
			if equalInts(seq[start:start+n-1], prefix) {
				scores[seq[start+n-1]] = float32(math.Inf(-1))
			}
		}
	}
	for _, t := range s.BadTokens {
		if t >= 0 && t < len(scores) {
			scores[t] = float32(math.Inf(-1))
		}
	}
	if len(seq) < s.MinLength && s.EOS >= 0 {
		scores[s.EOS] = float32(math.Inf(-1))
	}
	if f := s.ForcedEOS; f != nil && *f >= 0 && *f < len(scores) && len(seq) == s.MaxLength-1 {
		for i := range scores {
			scores[i] = float32(math.Inf(-1))
		}
		scores[*f] = 0
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Greedy decodes one sequence per source (0 .. sources-1) from input, all together, one token
// per step for every unfinished sequence, and returns each (input included, no padding):
// transformers' greedy search with its logits processors.
func Greedy(ctx context.Context, d Decoder, input []int, sources int, s *Settings) ([][]int, error) {
	b := sources
	seqs := make([][]int, b)
	states := make([]State, b)
	rngs := make([]*rand.Rand, b)
	for i := range seqs {
		seqs[i] = append([]int(nil), input...)
		states[i] = d.NewState(i, s.MaxLength)
		if s.DoSample {
			rngs[i] = rand.New(rand.NewPCG(s.Seed, 0))
		}
	}
	active := make([]int, b) // indices of unfinished sequences
	for i := range active {
		active[i] = i
	}
	next := make([][]int, b)
	for i := range next {
		next[i] = input
	}
	for len(active) > 0 {
		ids := make([][]int, len(active))
		st := make([]State, len(active))
		for j, i := range active {
			ids[j], st[j] = next[i], states[i]
		}
		logits, err := d.Step(ctx, ids, st)
		if err != nil {
			return nil, err
		}
		var still []int
		for j, i := range active {
			scores := logits.Row(j)
			s.process(seqs[i], scores)
			if s.Observe != nil {
				s.Observe(i, scores)
			}
			tok := 0
			if s.DoSample {
				tok = s.sample(scores, rngs[i])
			} else {
				tok = argmax(scores)
			}
			seqs[i] = append(seqs[i], tok)
			next[i] = []int{tok}
			if tok != s.EOS && len(seqs[i]) < s.MaxLength {
				still = append(still, i)
			}
		}
		active = still
	}
	return seqs, nil
}

// CheckTokens checks that the token ids the settings name (EOS unless -1, ForcedEOS, BadTokens)
// are in a vocabulary of vocab tokens.
func (s *Settings) CheckTokens(vocab int) error {
	check := func(name string, id int) error {
		if id < 0 || id >= vocab {
			return fmt.Errorf("%w: %s %d outside the vocabulary of %d", ErrOption, name, id, vocab)
		}
		return nil
	}
	if s.EOS != -1 {
		if err := check("end token", s.EOS); err != nil {
			return err
		}
	}
	if s.ForcedEOS != nil {
		if err := check("forced end token", *s.ForcedEOS); err != nil {
			return err
		}
	}
	for _, t := range s.BadTokens {
		if err := check("bad word token", t); err != nil {
			return err
		}
	}
	return nil
}

// MaxBeams bounds beam search so that a request cannot ask for unbounded memory.
const MaxBeams = 64

// Validate checks the settings a search can honour.
func (s *Settings) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrOption}, args...)...)
	}
	switch {
	case s.MaxLength < 0:
		return bad("max length %d < 0", s.MaxLength)
	case s.MinLength < 0:
		return bad("min length %d < 0", s.MinLength)
	case s.NumBeams < 1:
		return bad("beams %d < 1", s.NumBeams)
	case s.NumBeams > MaxBeams:
		return bad("beams %d > %d", s.NumBeams, MaxBeams)
	case !(s.RepetitionPenalty > 0) || math.IsInf(s.RepetitionPenalty, 0):
		return bad("repetition penalty %v must be a positive number", s.RepetitionPenalty)
	case s.NoRepeatNgramSize < 0:
		return bad("no-repeat n-gram size %d < 0", s.NoRepeatNgramSize)
	case math.IsNaN(s.LengthPenalty):
		return bad("length penalty is NaN")
	case !s.DoSample:
		return nil
	case s.NumBeams > 1:
		return bad("sampling with beam search (beam sample) is not supported")
	case !(s.Temperature > 0) || math.IsInf(s.Temperature, 0):
		return bad("temperature %v must be a positive number", s.Temperature)
	case s.TopK < 0:
		return bad("top-k %d < 0", s.TopK)
	case !(s.TopP > 0 && s.TopP <= 1):
		return bad("top-p %v must be in (0, 1]", s.TopP)
	}
	return nil
}

// warp applies transformers' sampling warpers to processed scores in place, in its order:
// temperature, top-k (every score below the k-th largest removed, ties kept), top-p (the
// fewest most likely tokens whose probability reaches top_p kept, at least one).
func (s *Settings) warp(scores []float32) {
	inf := float32(math.Inf(-1))
	if s.Temperature != 1 {
		t := float32(s.Temperature)
		for i := range scores {
			scores[i] /= t
		}
	}
	if k := min(s.TopK, len(scores)); k > 0 && k < len(scores) {
		kth := kthLargest(scores, k)
		for i, v := range scores {
			if v < kth {
				scores[i] = inf
			}
		}
	}
	if s.TopP < 1 {
		// Ascending, as transformers sorts, stable for ties (equal scores in token order).
		// Tokens already at -Inf (top-k's) would come first with probability 0: they add
		// nothing to the cumulative probability and stay removed, so only the others are
		// sorted, each as one integer, its score's order in the high half and its index in the
		// low (about twice as fast as sorting indices with a comparison function).
		keys := make([]uint64, 0, len(scores))
		for i, v := range scores {
			if v > inf {
				keys = append(keys, uint64(orderedBits(v))<<32|uint64(i))
			}
		}
		slices.Sort(keys)
		probs := softmax64(scores)
		var cum float64
		for _, key := range keys[:max(len(keys)-1, 0)] { // the most likely token always stays
			i := int(uint32(key))
			cum += probs[i]
			if cum > 1-s.TopP {
				break
			}
			scores[i] = inf
		}
	}
}

// orderedBits maps a float32 that is not NaN to a uint32 in the same order, equal values
// (-0 and +0) to the same one.
func orderedBits(v float32) uint32 {
	if v == 0 {
		return 1 << 31
	}
	b := math.Float32bits(v)
	if b>>31 == 1 {
		return ^b
	}
	return b | 1<<31
}

// kthLargest is the k-th largest of x (0 < k <= len(x)), counting equal values apart: the
// smallest of a min-heap that keeps the k largest seen, so that top-k reads the scores once
// instead of sorting them (BLIP's 30524 a step).
func kthLargest(x []float32, k int) float32 {
	h := slices.Clone(x[:k])
	down := func(i int) {
		for {
			l, least := 2*i+1, i
			if l < k && h[l] < h[least] {
				least = l
			}
			if l+1 < k && h[l+1] < h[least] {
				least = l + 1
			}
			if least == i {
				return
			}
			h[i], h[least] = h[least], h[i]
			i = least
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, v := range x[k:] {
		if v > h[0] {
			h[0] = v
			down(0)
		}
	}
	return h[0]
}

// sample draws a token from the warped scores.
func (s *Settings) sample(scores []float32, rng *rand.Rand) int {
	s.warp(scores)
	probs := softmax64(scores)
	u := rng.Float64()
	var cum float64
	last := 0
	for i, p := range probs {
		if p == 0 {
			continue
		}
		cum += p
		last = i
		if u < cum {
			return i
		}
	}
	return last // rounding left u past the total
}

// softmax64 is the softmax of x in float64 (-Inf scores get 0). After top-k most scores
// are -Inf: they cost a comparison each.
func softmax64(x []float32) []float64 {
	m32 := float32(math.Inf(-1))
	for _, v := range x {
		if v > m32 || v != v { // a NaN stays the maximum, as Go's max keeps it
			m32 = v
		}
	}
	m := float64(m32)
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		if math.IsInf(float64(v), -1) {
			continue // e^-Inf is 0, which adds nothing
		}
		out[i] = math.Exp(float64(v) - m)
		sum += out[i]
	}
	for i, p := range out {
		if p != 0 || !(sum > 0 && sum <= math.MaxFloat64) {
			out[i] = p / sum // 0 / a positive finite sum is 0 already
		}
	}
	return out
}

// argmax returns the first index of the largest value, as torch.argmax does.
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// candidate is one continuation: a running beam extended by a token.
type candidate struct {
	score float32
	beam  int
	tok   int
}

// insertTop inserts c into top (sorted best first, at most k long), which it belongs in: top
// is shorter than k or c scores above its last (the caller tests that, for every candidate).
func insertTop(top []candidate, k int, c candidate) []candidate {
	i := sort.Search(len(top), func(i int) bool { return top[i].score < c.score })
	top = append(top, candidate{})
	copy(top[i+1:], top[i:])
	top[i] = c
	if len(top) > k {
		top = top[:k]
	}
	return top
}

// hypothesis is a beam search candidate.
type hypothesis struct {
	seq      []int
	score    float32
	parent   int
	finished bool
}

// Beam runs transformers' beam search (generation/utils.py _beam_search, with its
// early_stopping rules) from input for source src and returns the best sequence and its
// length-normalised score.
func Beam(ctx context.Context, d Decoder, input []int, src int, s *Settings) ([]int, float32, error) {
	nb := s.NumBeams
	k := 2 * nb
	vocab := d.VocabSize()
	if k > vocab {
		return nil, 0, fmt.Errorf("%w: %d beams need a vocabulary of at least %d", ErrOption, nb, k)
	}
	const dead = -1e9
	promptLen := len(input)
	running := make([]hypothesis, nb)
	for i := range running {
		running[i] = hypothesis{seq: append([]int(nil), input...), score: dead}
	}
	running[0].score = 0
	finished := make([]hypothesis, nb)
	for i := range finished {
		finished[i] = hypothesis{score: dead}
	}
	states := make([]State, nb)
	spare := make([]State, nb)
	for i := range states {
		states[i], spare[i] = d.NewState(src, s.MaxLength), d.NewState(src, s.MaxLength)
	}
	lp := s.LengthPenalty
	for curLen := promptLen; ; curLen++ {
		// a. Log-probabilities of every running beam. At the first step every beam holds the
		// same input, so one forward pass serves them all.
		var logits *tensor.Tensor
		var err error
		if curLen == promptLen {
			one, err := d.Step(ctx, [][]int{input}, states[:1])
			if err != nil {
				return nil, 0, err
			}
			logits = tensor.New(nb, vocab)
			for i := 0; i < nb; i++ {
				copy(logits.Row(i), one.Row(0))
				if i > 0 {
					d.CopyState(states[i], states[0])
				}
			}
		} else {
			ids := make([][]int, nb)
			for i := range ids {
				ids[i] = running[i].seq[len(running[i].seq)-1:]
			}
			if logits, err = d.Step(ctx, ids, states); err != nil {
				return nil, 0, err
			}
		}
		// b, c. Scores of every continuation, accumulated in float32 as torch does, and the top
		// 2·num_beams of them, best first (ties keep the lower beam and token, as a stable sort).
		top := make([]candidate, 0, k+1)
		for i := 0; i < nb; i++ {
			row := logits.Row(i)
			tensor.LogSoftmax(row)
			s.process(running[i].seq, row)
			for v, lpv := range row {
				// Tested here rather than in insertTop: 30524 candidates a beam a step.
				if sc := lpv + running[i].score; len(top) < k || sc > top[k-1].score {
					top = insertTop(top, k, candidate{sc, i, v})
				}
			}
		}
		hits := make([]bool, k)
		allHit := true
		for j, c := range top {
			hits[j] = c.tok == s.EOS || curLen+1 >= s.MaxLength
			allHit = allHit && hits[j]
		}
		// e. The best num_beams continuations that did not finish keep running.
		order := make([]int, k)
		runScore := make([]float32, k)
		for j, c := range top {
			order[j] = j
			runScore[j] = c.score
			if hits[j] {
				runScore[j] += dead
			}
		}
		sort.SliceStable(order, func(a, b int) bool { return runScore[order[a]] > runScore[order[b]] })
		next := make([]hypothesis, nb)
		for i := 0; i < nb; i++ {
			c := top[order[i]]
			next[i] = hypothesis{seq: append(append([]int(nil), running[c.beam].seq...), c.tok), score: runScore[order[i]], parent: c.beam}
		}
		// f. Finished hypotheses among the top num_beams join the finished set if they score
		// better than what it holds. (transformers also bars additions once the search cannot
		// improve, or once every slot is finished under early_stopping=True; a search here
		// returns at the end of the step that finds either, so no step sees them.)
		merged := append([]hypothesis(nil), finished...)
		norm := float32(math.Pow(float64(curLen+1-promptLen), lp))
		for j, c := range top {
			sc := c.score / norm
			done := hits[j] && j < nb
			if !done {
				sc += dead
			}
			merged = append(merged, hypothesis{seq: append(append([]int(nil), running[c.beam].seq...), c.tok), score: sc, finished: done})
		}
		sort.SliceStable(merged, func(a, b int) bool { return merged[a].score > merged[b].score })
		copy(finished, merged[:nb])
		// g. Reorder the states for the surviving beams.
		for i := range next {
			d.CopyState(spare[i], states[next[i].parent])
		}
		states, spare = spare, states
		running = next
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		// Stopping rule: can a running beam still beat the worst finished one?
		best := curLen + 1 - promptLen
		if s.EarlyStopping == EarlyStopNever && lp > 0 {
			best = s.MaxLength - promptLen
		}
		bestPossible := running[0].score / float32(math.Pow(float64(best), lp))
		worst := finished[0].score
		for _, f := range finished {
			worst = min(worst, f.score)
		}
		improvable := false
		for _, f := range finished {
			w := float32(dead)
			if f.finished {
				w = worst
			}
			improvable = improvable || bestPossible > w
		}
		allFinished := true
		for _, f := range finished {
			allFinished = allFinished && f.finished
		}
		if !improvable || (s.EarlyStopping == EarlyStopAll && allFinished) || allHit {
			return finished[0].seq, finished[0].score, nil
		}
	}
}
