package blip

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/tensor"
)

// generation is one decoding run over a batch of images that share the options and prompt.
type generation struct {
	m       *Model
	s       *settings
	input   []int // BOS + prompt
	maxLen  int   // total length bound
	eos     int
	crosses []*bert.Cross
	ws      bert.Workspace // decoder activations, reused at every step
	// hidden, last and logits are step outputs, reused at every step.
	hidden, last, logits []float32
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

func (m *Model) newGeneration(s *settings, input []int, crosses []*bert.Cross) (*generation, error) {
	tc := m.Config.TextConfig
	g := &generation{m: m, s: s, input: input, eos: tc.SepTokenID, crosses: crosses}
	n := len(g.input)
	switch {
	case s.maxNewTokens > 0:
		g.maxLen = n + s.maxNewTokens
	case s.maxLength > 0:
		g.maxLen = s.maxLength
	default:
		g.maxLen = min(n+defaultMaxLength, tc.MaxPositionEmbeddings)
	}
	if n >= g.maxLen {
		return nil, fmt.Errorf("%w: the prompt makes %d tokens with BOS, max length is %d", ErrOption, n, g.maxLen)
	}
	if g.maxLen > tc.MaxPositionEmbeddings {
		return nil, fmt.Errorf("%w: max length %d exceeds the model's %d positions", ErrOption, g.maxLen, tc.MaxPositionEmbeddings)
	}
	if s.ignoreEOS {
		g.eos = -1
	}
	return g, nil
}

// process applies transformers' logits processors, in its order, to the scores of the next
// token of one sequence: repetition penalty, no-repeat n-grams, min length.
func (g *generation) process(seq []int, scores []float32) {
	s := g.s
	if s.repetitionPenalty != 1 {
		p := float32(s.repetitionPenalty)
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
	if n := s.noRepeatNgramSize; n > 0 && len(seq)+1 >= n {
		prefix := seq[len(seq)-n+1:]
		for start := 0; start+n <= len(seq); start++ {
			if equalInts(seq[start:start+n-1], prefix) {
				scores[seq[start+n-1]] = float32(math.Inf(-1))
			}
		}
	}
	if len(seq) < s.minLength && g.eos >= 0 {
		scores[g.eos] = float32(math.Inf(-1))
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

// step runs one batch of sequences forward by their new tokens and returns the logits of each
// sequence's last position, [len(ids), V], valid until the next step.
func (g *generation) step(ctx context.Context, ids [][]int, caches []*bert.Cache, crosses []*bert.Cross) (*tensor.Tensor, error) {
	defer g.s.timings.add(stageStep, time.Now())
	d := g.m.Decoder
	t := len(ids[0])
	hidden := reuse(&g.hidden, len(ids)*t, d.Config.HiddenSize)
	if err := d.Forward(ctx, g.m.pool, hidden, ids, caches, crosses, &g.ws); err != nil {
		return nil, err
	}
	last := reuse(&g.last, len(ids), d.Config.HiddenSize)
	for i := range ids {
		copy(last.Row(i), hidden.Row(i*t+t-1))
	}
	logits := reuse(&g.logits, len(ids), d.Config.VocabSize)
	g.m.Head.Forward(g.m.pool, logits, last)
	if err := tensor.CheckFinite(fmt.Sprintf("decoder logits at position %d", caches[0].Len-1), logits.Data); err != nil {
		return nil, err
	}
	return logits, nil
}

// greedy decodes every image of the batch together, one token per step, and returns each
// sequence (input included, no padding) with the top-1/top-2 gap of its closest step.
func (g *generation) greedy(ctx context.Context) ([][]int, error) {
	b := len(g.crosses)
	seqs := make([][]int, b)
	caches := make([]*bert.Cache, b)
	for i := range seqs {
		seqs[i] = append([]int(nil), g.input...)
		caches[i] = g.m.Decoder.NewCache(g.maxLen)
	}
	active := make([]int, b) // indices of unfinished sequences
	for i := range active {
		active[i] = i
	}
	next := make([][]int, b)
	for i := range next {
		next[i] = g.input
	}
	for len(active) > 0 {
		ids := make([][]int, len(active))
		cs := make([]*bert.Cache, len(active))
		xs := make([]*bert.Cross, len(active))
		for j, i := range active {
			ids[j], cs[j], xs[j] = next[i], caches[i], g.crosses[i]
		}
		logits, err := g.step(ctx, ids, cs, xs)
		if err != nil {
			return nil, err
		}
		var still []int
		for j, i := range active {
			scores := logits.Row(j)
			g.process(seqs[i], scores)
			if g.s.observe != nil {
				g.s.observe(i, scores)
			}
			tok := argmax(scores)
			seqs[i] = append(seqs[i], tok)
			next[i] = []int{tok}
			if tok != g.eos && len(seqs[i]) < g.maxLen {
				still = append(still, i)
			}
		}
		active = still
	}
	return seqs, nil
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

// insertTop inserts c into top (sorted best first, at most k long) if it belongs there.
func insertTop(top []candidate, k int, c candidate) []candidate {
	if len(top) == k && c.score <= top[k-1].score {
		return top
	}
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

// beam runs transformers' beam search (generation/utils.py _beam_search, early_stopping=False
// unless the generation config says otherwise) for one image and returns the best sequence and
// its length-normalised score.
func (g *generation) beam(ctx context.Context, cross *bert.Cross) ([]int, float32, error) {
	s, d := g.s, g.m.Decoder
	nb := s.numBeams
	k := 2 * nb
	vocab := d.Config.VocabSize
	if k > vocab {
		return nil, 0, fmt.Errorf("%w: %d beams need a vocabulary of at least %d", ErrOption, nb, k)
	}
	const dead = -1e9
	promptLen := len(g.input)
	running := make([]hypothesis, nb)
	for i := range running {
		running[i] = hypothesis{seq: append([]int(nil), g.input...), score: dead}
	}
	running[0].score = 0
	finished := make([]hypothesis, nb)
	for i := range finished {
		finished[i] = hypothesis{score: dead}
	}
	caches := make([]*bert.Cache, nb)
	spare := make([]*bert.Cache, nb)
	for i := range caches {
		caches[i], spare[i] = d.NewCache(g.maxLen), d.NewCache(g.maxLen)
	}
	unsatisfied := true
	lp := s.lengthPenalty
	for curLen := promptLen; ; curLen++ {
		// a. Log-probabilities of every running beam. At the first step every beam holds the
		// same input, so one forward pass serves them all.
		var logits *tensor.Tensor
		var err error
		if curLen == promptLen {
			one, err := g.step(ctx, [][]int{g.input}, caches[:1], []*bert.Cross{cross})
			if err != nil {
				return nil, 0, err
			}
			logits = tensor.New(nb, vocab)
			for i := 0; i < nb; i++ {
				copy(logits.Row(i), one.Row(0))
				if i > 0 {
					caches[i].CopyFrom(caches[0], d.Config.HiddenSize)
				}
			}
		} else {
			ids := make([][]int, nb)
			xs := make([]*bert.Cross, nb)
			for i := range ids {
				ids[i] = running[i].seq[len(running[i].seq)-1:]
				xs[i] = cross
			}
			if logits, err = g.step(ctx, ids, caches, xs); err != nil {
				return nil, 0, err
			}
		}
		// b, c. Scores of every continuation, accumulated in float32 as torch does, and the top
		// 2·num_beams of them, best first (ties keep the lower beam and token, as a stable sort).
		top := make([]candidate, 0, k+1)
		for i := 0; i < nb; i++ {
			row := logits.Row(i)
			tensor.LogSoftmax(row)
			g.process(running[i].seq, row)
			for v, lpv := range row {
				top = insertTop(top, k, candidate{lpv + running[i].score, i, v})
			}
		}
		hits := make([]bool, k)
		allHit := true
		for j, c := range top {
			hits[j] = c.tok == g.eos || curLen+1 >= g.maxLen
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
		// better than what it holds.
		merged := append([]hypothesis(nil), finished...)
		norm := float32(math.Pow(float64(curLen+1-promptLen), lp))
		allFinished := true
		for _, f := range finished {
			allFinished = allFinished && f.finished
		}
		for j, c := range top {
			sc := c.score / norm
			if s.earlyStopping == earlyStopAll && allFinished {
				sc += dead
			}
			if !unsatisfied {
				sc += dead
			}
			done := hits[j] && j < nb
			if !done {
				sc += dead
			}
			merged = append(merged, hypothesis{seq: append(append([]int(nil), running[c.beam].seq...), c.tok), score: sc, finished: done})
		}
		sort.SliceStable(merged, func(a, b int) bool { return merged[a].score > merged[b].score })
		copy(finished, merged[:nb])
		// g. Reorder the caches for the surviving beams.
		for i := range next {
			spare[i].CopyFrom(caches[next[i].parent], d.Config.HiddenSize)
		}
		caches, spare = spare, caches
		running = next
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		// Stopping rule: can a running beam still beat the worst finished one?
		best := curLen + 1 - promptLen
		if s.earlyStopping == earlyStopNever && lp > 0 {
			best = g.maxLen - promptLen
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
		unsatisfied = unsatisfied && improvable
		allFinished = true
		for _, f := range finished {
			allFinished = allFinished && f.finished
		}
		if !unsatisfied || (s.earlyStopping == earlyStopAll && allFinished) || allHit {
			return finished[0].seq, finished[0].score, nil
		}
	}
}
