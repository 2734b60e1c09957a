package generate

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/tensor"
)

// markov is a toy decoder: the next token's logits depend on the last token only, through a
// table, plus a per-source offset on every logit of token 0.
type markov struct {
	table  [][]float32 // [V][V]: row = last token
	source []float32
	steps  int
}

type markovState struct {
	src int
	seq []int
}

func (m *markov) VocabSize() int { return len(m.table) }
func (m *markov) NewState(src, capacity int) State {
	return &markovState{src: src, seq: make([]int, 0, capacity)}
}
func (m *markov) CopyState(dst, src State) {
	d, s := dst.(*markovState), src.(*markovState)
	d.src, d.seq = s.src, append(d.seq[:0], s.seq...)
}
func (m *markov) Step(ctx context.Context, ids [][]int, states []State) (*tensor.Tensor, error) {
	m.steps++
	out := tensor.New(len(states), len(m.table))
	for i, st := range states {
		s := st.(*markovState)
		s.seq = append(s.seq, ids[i]...)
		copy(out.Row(i), m.table[s.seq[len(s.seq)-1]])
		out.Row(i)[0] += m.source[s.src]
	}
	return out, ctx.Err()
}

// A four-token world: 0 is EOS. From 1, greedy takes 2 (logit 2) whose best continuation is
// weak; 3 (logit 1.9) leads to a sure EOS.
func toy() *markov {
	return &markov{
		table: [][]float32{
			{5, 0, 0, 0},
			{0, 0, 2, 1.9},
			{0, 1, 0.9, 0.8},
			{9, 0, 0, 0},
		},
		source: []float32{0, 0},
	}
}

func TestGreedy(t *testing.T) {
	m := toy()
	m.source[1] = 10 // source 1 ends at once
	got, err := Greedy(context.Background(), m, []int{1}, 2, &Settings{MaxLength: 6, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EOS: 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{1, 2, 1, 2, 1, 2}, {1, 0}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("greedy %v, want %v", got, want)
	}
}

func TestProcessors(t *testing.T) {
	inf := float32(math.Inf(-1))
	zero, two, four := 0, 2, 4
	for _, c := range []struct {
		name string
		s    Settings
		seq  []int
		want []float32
	}{
		{"repetition penalty divides positive, multiplies negative", Settings{RepetitionPenalty: 2, EOS: -1}, []int{1, 2, 2}, []float32{4, -2, 1, 3}},
		{"no-repeat bigram", Settings{RepetitionPenalty: 1, NoRepeatNgramSize: 2, EOS: -1}, []int{2, 3, 2}, []float32{4, -1, 2, inf}},
		{"min length forbids EOS", Settings{RepetitionPenalty: 1, MinLength: 5, EOS: 0}, []int{1, 2}, []float32{inf, -1, 2, 3}},
		// transformers' MinLengthLogitsProcessor: EOS is forbidden while the sequence (prompt
		// included) is shorter than min_length, so the next token may end a sequence of
		// min_length-1, not one shorter.
		{"min length forbids EOS one short", Settings{RepetitionPenalty: 1, MinLength: 5, EOS: 0}, []int{1, 2, 3, 1}, []float32{inf, -1, 2, 3}},
		{"min length allows EOS once reached", Settings{RepetitionPenalty: 1, MinLength: 5, EOS: 0}, []int{1, 2, 3, 1, 2}, []float32{4, -1, 2, 3}},
		{"bad words", Settings{RepetitionPenalty: 1, EOS: -1, BadTokens: []int{3, 9}}, []int{1}, []float32{4, -1, 2, inf}},
		{"forced end at the last position", Settings{RepetitionPenalty: 1, EOS: -1, MaxLength: 3, ForcedEOS: &two}, []int{1, 1}, []float32{inf, inf, 0, inf}},
		{"not forced before it", Settings{RepetitionPenalty: 1, EOS: -1, MaxLength: 4, ForcedEOS: &two}, []int{1, 1}, []float32{4, -1, 2, 3}},
		// The bigram that ends at the last token counts too: after 3 3, a third 3 would repeat it.
		{"no-repeat bigram of the last two tokens", Settings{RepetitionPenalty: 1, NoRepeatNgramSize: 2, EOS: -1}, []int{1, 3, 3}, []float32{4, -1, 2, inf}},
		{"no-repeat trigram not complete yet", Settings{RepetitionPenalty: 1, NoRepeatNgramSize: 3, EOS: -1}, []int{3, 3}, []float32{4, -1, 2, 3}},
		{"bad word 0", Settings{RepetitionPenalty: 1, EOS: -1, BadTokens: []int{0}}, []int{1}, []float32{inf, -1, 2, 3}},
		// Ids past the vocabulary are refused by CheckTokens; process itself skips them.
		{"bad words outside the vocabulary", Settings{RepetitionPenalty: 1, EOS: -1, BadTokens: []int{-1, 4}}, []int{1}, []float32{4, -1, 2, 3}},
		{"forced end token 0", Settings{RepetitionPenalty: 1, EOS: -1, MaxLength: 3, ForcedEOS: &zero}, []int{1, 1}, []float32{0, inf, inf, inf}},
		{"forced end outside the vocabulary", Settings{RepetitionPenalty: 1, EOS: -1, MaxLength: 3, ForcedEOS: &four}, []int{1, 1}, []float32{4, -1, 2, 3}},
	} {
		scores := []float32{4, -1, 2, 3}
		c.s.process(c.seq, scores)
		if !slices.Equal(scores, c.want) {
			t.Errorf("%s: %v, want %v", c.name, scores, c.want)
		}
	}
}

// TestBeam: two beams find the sequence greedy misses, and its score is the length-normalised
// sum of log-probabilities.
func TestBeam(t *testing.T) {
	m := toy()
	seq, score, err := Beam(context.Background(), m, []int{1}, 0, &Settings{MaxLength: 5, NumBeams: 2, LengthPenalty: 1, RepetitionPenalty: 1, EOS: 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 0}; !slices.Equal(seq, want) {
		t.Fatalf("beam %v, want %v", seq, want)
	}
	logp := func(row []float32, tok int) float64 {
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v))
		}
		return float64(row[tok]) - math.Log(sum)
	}
	want := (logp(m.table[1], 3) + logp(m.table[3], 0)) / 2
	if math.Abs(float64(score)-want) > 1e-5 {
		t.Errorf("score %v, want %v", score, want)
	}
	if _, _, err := Beam(context.Background(), m, []int{1}, 0, &Settings{MaxLength: 5, NumBeams: 3, EOS: 0}); !errors.Is(err, ErrOption) {
		t.Errorf("6 candidates from a vocabulary of 4: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Beam(ctx, m, []int{1}, 0, &Settings{MaxLength: 5, NumBeams: 2, LengthPenalty: 1, RepetitionPenalty: 1, EOS: 0}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestBeamEarlyStopping holds the three early_stopping modes to what tells them apart in
// transformers: they differ only in when the search stops (the hypotheses it holds at each step
// are the same), the heuristic (False) stopping once the best running beam, normalised by the
// current length, cannot beat the worst finished one, "never" normalising by the longest
// possible length instead when the length penalty is positive (and exactly as the heuristic
// otherwise), and True stopping as soon as every slot holds a finished hypothesis. So on random
// decoders: True takes no more steps than the heuristic and returns no better a score, "never"
// no fewer and no worse; "never" equals the heuristic, steps and all, when the penalty is not
// positive; and among the decoders some stop strictly earlier under True and strictly later
// under "never" (else the modes would not be told apart at all).
func TestBeamEarlyStopping(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const v = 6
	var earlier, later int
	for trial := range 300 {
		m := &markov{table: make([][]float32, v), source: []float32{0}}
		for i := range m.table {
			m.table[i] = make([]float32, v)
			for j := range m.table[i] {
				m.table[i][j] = float32(r.NormFloat64() * 2)
			}
		}
		lp := []float64{-1, -0.5, 0, 0.5, 1, 2}[trial%6]
		nb := 2 + trial%2
		run := func(mode EarlyStop) ([]int, float32, int) {
			m.steps = 0
			seq, score, err := Beam(context.Background(), m, []int{1}, 0, &Settings{MaxLength: 12, NumBeams: nb, LengthPenalty: lp, RepetitionPenalty: 1, EOS: 0, EarlyStopping: mode})
			if err != nil {
				t.Fatal(err)
			}
			return seq, score, m.steps
		}
		hSeq, hScore, hSteps := run(EarlyStopHeuristic)
		aSeq, aScore, aSteps := run(EarlyStopAll)
		nSeq, nScore, nSteps := run(EarlyStopNever)
		// Every mode returns a finished hypothesis: ended by EOS, or at the length limit.
		for _, seq := range [][]int{hSeq, aSeq, nSeq} {
			if seq[len(seq)-1] != 0 && len(seq) != 12 {
				t.Fatalf("trial %d (lp %v): %v neither ends with EOS nor reaches the length limit", trial, lp, seq)
			}
		}
		if aSteps > hSteps || aScore > hScore {
			t.Errorf("trial %d (lp %v): early_stopping=True took %d steps to a score of %v, the heuristic %d to %v", trial, lp, aSteps, aScore, hSteps, hScore)
		}
		if nSteps < hSteps || nScore < hScore {
			t.Errorf("trial %d (lp %v): early_stopping=never took %d steps to a score of %v, the heuristic %d to %v", trial, lp, nSteps, nScore, hSteps, hScore)
		}
		if lp <= 0 && (nSteps != hSteps || nScore != hScore || !slices.Equal(nSeq, hSeq)) {
			t.Errorf("trial %d (lp %v): early_stopping=never gave %v (%v, %d steps), the heuristic %v (%v, %d steps)", trial, lp, nSeq, nScore, nSteps, hSeq, hScore, hSteps)
		}
		if aSteps < hSteps {
			earlier++
		}
		if nSteps > hSteps {
			later++
		}
	}
	if earlier == 0 || later == 0 {
		t.Errorf("of 300 decoders, %d stopped earlier under early_stopping=True and %d later under never: the modes are not told apart", earlier, later)
	}
	t.Logf("of 300 decoders, %d stopped earlier under early_stopping=True, %d later under never", earlier, later)
}

// TestWarpers: temperature, top-k (ties kept) and top-p as transformers applies them.
func TestWarpers(t *testing.T) {
	inf := float32(math.Inf(-1))
	for _, c := range []struct {
		name string
		s    Settings
		in   []float32
		want []float32
	}{
		{"temperature", Settings{Temperature: 2, TopP: 1}, []float32{2, -4, 1}, []float32{1, -2, 0.5}},
		{"top-k keeps ties", Settings{Temperature: 1, TopK: 2, TopP: 1}, []float32{3, 1, 3, 2}, []float32{3, inf, 3, inf}},
		// softmax of (0, ln 2, ln 3, ln 4) is (0.1, 0.2, 0.3, 0.4): with top-p 0.6 the two
		// least likely (cumulative 0.1, 0.3 <= 0.4) go.
		{"top-p", Settings{Temperature: 1, TopP: 0.6}, []float32{0, float32(math.Log(2)), float32(math.Log(3)), float32(math.Log(4))}, []float32{inf, inf, float32(math.Log(3)), float32(math.Log(4))}},
		{"top-p keeps the best", Settings{Temperature: 1, TopP: 1e-9}, []float32{1, 5, 2}, []float32{inf, 5, inf}},
		// 1 - 1e-20 is 1 in float64, and the probabilities of (1, 2, 3) sum to
		// 0.99999999999999989, which never passes it: the best token stays because it is never
		// a candidate for removal, not by the sum (transformers' min_tokens_to_keep).
		{"top-p below float64's resolution keeps the best", Settings{Temperature: 1, TopP: 1e-20}, []float32{1, 2, 3}, []float32{inf, inf, 3}},
	} {
		got := slices.Clone(c.in)
		c.s.warp(got)
		for i := range got {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-6 && !(math.IsInf(float64(got[i]), -1) && math.IsInf(float64(c.want[i]), -1)) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// warpSorted is warp's top-k and top-p as transformers writes them, by sorting every score:
// the reference TestWarpersMatchSorting holds warp's selection and partial sort to.
func warpSorted(s *Settings, scores []float32) {
	inf := float32(math.Inf(-1))
	if k := min(s.TopK, len(scores)); k > 0 && k < len(scores) {
		sorted := slices.Clone(scores)
		slices.SortFunc(sorted, func(a, b float32) int { return -cmp.Compare(a, b) })
		kth := sorted[k-1]
		for i, v := range scores {
			if v < kth {
				scores[i] = inf
			}
		}
	}
	if s.TopP < 1 {
		order := make([]int, len(scores))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] < scores[order[b]] })
		probs := softmax64(scores)
		var cum float64
		for _, i := range order[:len(order)-1] {
			cum += probs[i]
			if cum > 1-s.TopP {
				break
			}
			scores[i] = inf
		}
	}
}

// TestWarpersMatchSorting: top-k by selection and top-p over the tokens top-k kept give what
// sorting every score gives, bit for bit, on rows with many ties (scores on a coarse grid),
// tokens already removed (-Inf), one token, and BLIP's vocabulary.
func TestWarpersMatchSorting(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	inf := float32(math.Inf(-1))
	for _, n := range []int{1, 2, 5, 64, 1000, 30524} {
		for trial := 0; trial < 6; trial++ {
			row := make([]float32, n)
			for i := range row {
				switch {
				case trial%3 == 0:
					row[i] = float32(r.IntN(8)) / 2 // many ties
				case trial%3 == 1 && r.IntN(4) == 0:
					row[i] = inf
				default:
					row[i] = float32(r.NormFloat64() * 3)
				}
			}
			for _, k := range []int{0, 1, 3, 50, n - 1, n} {
				for _, p := range []float64{1, 0.9, 0.5, 1e-9} {
					s := Settings{Temperature: 1, TopK: max(k, 0), TopP: p}
					got, want := slices.Clone(row), slices.Clone(row)
					s.warp(got)
					warpSorted(&s, want)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("n %d trial %d top-k %d top-p %v: [%d] = %v, sorting gives %v", n, trial, k, p, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestSoftmax64: skipping -Inf scores and the zeros they leave gives the plain float64
// softmax bit for bit, NaN where the plain one gives NaN (a NaN score, every score -Inf).
func TestSoftmax64(t *testing.T) {
	plain := func(x []float32) []float64 {
		m := math.Inf(-1)
		for _, v := range x {
			m = max(m, float64(v))
		}
		out := make([]float64, len(x))
		var sum float64
		for i, v := range x {
			out[i] = math.Exp(float64(v) - m)
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
		return out
	}
	r := rand.New(rand.NewPCG(9, 9))
	inf := float32(math.Inf(-1))
	rows := [][]float32{{inf, inf}, {1, float32(math.NaN()), 2}, {inf, 3}, {0, float32(math.Copysign(0, -1))}}
	for _, n := range []int{1, 10, 30524} {
		row := make([]float32, n)
		for i := range row {
			if row[i] = float32(r.NormFloat64() * 4); r.IntN(3) == 0 {
				row[i] = inf
			}
		}
		rows = append(rows, row)
	}
	for _, row := range rows {
		got, want := softmax64(row), plain(row)
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
				t.Fatalf("softmax64 of %d scores: [%d] = %v, plainly %v", len(row), i, got[i], want[i])
			}
		}
	}
}

// TestSamplingDistribution: over many seeds, the first token's frequencies match the warped
// distribution (chi-square, fixed seeds: deterministic), and a seed reproduces its sequence.
func TestSamplingDistribution(t *testing.T) {
	m := &markov{table: [][]float32{{0, 0, 0, 0}, {0.5, 1.5, 1, -1}, {0, 0, 0, 0}, {0, 0, 0, 0}}, source: []float32{0}}
	s := &Settings{MaxLength: 2, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, EOS: -1, DoSample: true, Temperature: 0.8, TopK: 3, TopP: 1}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(m.table[1])
	s.warp(want)
	probs := softmax64(want)
	const n = 20000
	counts := make([]float64, 4)
	for seed := uint64(0); seed < n; seed++ {
		s.Seed = seed
		seqs, err := Greedy(context.Background(), m, []int{1}, 1, s)
		if err != nil {
			t.Fatal(err)
		}
		counts[seqs[0][1]]++
	}
	var chi2 float64
	for tok, p := range probs {
		if p == 0 {
			if counts[tok] != 0 {
				t.Fatalf("token %d drawn %v times with probability 0", tok, counts[tok])
			}
			continue
		}
		chi2 += (counts[tok] - n*p) * (counts[tok] - n*p) / (n * p)
	}
	// 3 categories, 2 degrees of freedom: P(chi2 > 13.8) = 0.001.
	if chi2 > 13.8 {
		t.Errorf("counts %v against probabilities %v: chi-square %.1f", counts, probs, chi2)
	}
	s.Seed = 7
	a, _ := Greedy(context.Background(), m, []int{1}, 1, s)
	b, _ := Greedy(context.Background(), m, []int{1}, 1, s)
	if !slices.Equal(a[0], b[0]) {
		t.Errorf("seed 7 gave %v then %v", a[0], b[0])
	}
}

// TestValidate: each out-of-range setting is refused with ErrOption and a message naming it,
// starting from settings that pass.
func TestValidate(t *testing.T) {
	good := func() Settings {
		return Settings{MaxLength: 20, NumBeams: 1, LengthPenalty: 1, RepetitionPenalty: 1, DoSample: true, Temperature: 1, TopP: 1}
	}
	if s := good(); s.Validate() != nil {
		t.Fatalf("good settings refused: %v", s.Validate())
	}
	// Each bound itself is allowed: no length, MaxBeams beams (without sampling).
	for _, edit := range []func(*Settings){func(s *Settings) { s.MaxLength, s.MinLength = 0, 0 }, func(s *Settings) { s.NumBeams, s.DoSample = MaxBeams, false }} {
		s := good()
		edit(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%+v refused: %v", s, err)
		}
	}
	for _, c := range []struct {
		edit func(*Settings)
		want string
	}{
		{func(s *Settings) { s.MaxLength = -1 }, "max length -1 < 0"},
		{func(s *Settings) { s.MinLength = -1 }, "min length -1 < 0"},
		{func(s *Settings) { s.NumBeams = 0 }, "beams 0 < 1"},
		{func(s *Settings) { s.NumBeams = MaxBeams + 1 }, "beams 65 > 64"},
		{func(s *Settings) { s.RepetitionPenalty = 0 }, "repetition penalty 0"},
		{func(s *Settings) { s.RepetitionPenalty = math.Inf(1) }, "repetition penalty +Inf"},
		{func(s *Settings) { s.NoRepeatNgramSize = -2 }, "n-gram size -2 < 0"},
		{func(s *Settings) { s.LengthPenalty = math.NaN() }, "length penalty is NaN"},
		{func(s *Settings) { s.Temperature = 0 }, "temperature 0"},
		{func(s *Settings) { s.TopP = 0 }, "top-p 0"},
		{func(s *Settings) { s.TopK = -1 }, "top-k -1 < 0"},
		{func(s *Settings) { s.NumBeams = 2 }, "beam sample"},
	} {
		s := good()
		c.edit(&s)
		if err := s.Validate(); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", s, err, c.want)
		}
	}
}

// TestCheckTokens: the end token (unless -1), the forced end token and the bad words must be
// ids of the vocabulary, its first and last included; an error names which and the id.
func TestCheckTokens(t *testing.T) {
	zero, three, four := 0, 3, 4
	for _, s := range []Settings{{EOS: -1}, {EOS: 0, ForcedEOS: &zero, BadTokens: []int{0, 3}}, {EOS: 3, ForcedEOS: &three}} {
		if err := s.CheckTokens(4); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{EOS: 4}, "end token 4 outside the vocabulary of 4"},
		{Settings{EOS: -2}, "end token -2 outside"},
		{Settings{EOS: -1, ForcedEOS: &four}, "forced end token 4 outside"},
		{Settings{EOS: 0, BadTokens: []int{1, -1}}, "bad word token -1 outside"},
		{Settings{EOS: 0, BadTokens: []int{4}}, "bad word token 4 outside"},
	} {
		if err := c.s.CheckTokens(4); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}

// TestConfig: early_stopping's three readings; bad_words_ids of single tokens as a list, a
// longer entry refused; Apply sets what is present and leaves the rest (do_sample false
// included).
func TestConfig(t *testing.T) {
	for _, c := range []struct {
		v    any
		want EarlyStop
	}{{true, EarlyStopAll}, {"never", EarlyStopNever}, {false, EarlyStopHeuristic}, {nil, EarlyStopHeuristic}} {
		if got := (&Config{EarlyStopping: c.v}).EarlyStop(); got != c.want {
			t.Errorf("early_stopping %v: %v, want %v", c.v, got, c.want)
		}
	}
	if got, err := (&Config{BadWordsIDs: [][]int{{3}, {5}}}).BadTokens(); err != nil || !slices.Equal(got, []int{3, 5}) {
		t.Errorf("bad_words_ids [[3] [5]]: %v, %v", got, err)
	}
	if _, err := (&Config{BadWordsIDs: [][]int{{3}, {1, 2}}}).BadTokens(); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), "[1 2]") {
		t.Errorf("bad_words_ids with a two-token entry: %v", err)
	}
	two, four, half, no := 2, 4, 0.5, false
	s := Settings{MinLength: 1, NumBeams: 1, TopK: 50, LengthPenalty: 1, RepetitionPenalty: 1, Temperature: 1, TopP: 1, DoSample: true, EarlyStopping: EarlyStopAll}
	(&Config{NumBeams: &four, NoRepeatNgramSize: &two, TopP: &half, DoSample: &no}).Apply(&s)
	want := Settings{MinLength: 1, NumBeams: 4, NoRepeatNgramSize: 2, TopK: 50, LengthPenalty: 1, RepetitionPenalty: 1, Temperature: 1, TopP: 0.5, DoSample: false, EarlyStopping: EarlyStopHeuristic}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Apply: %+v, want %+v", s, want)
	}
}
